"""YAML read strictly: a key written twice in one mapping, a file that is not UTF-8 or not valid YAML is a
UsageError naming the file, the line and the fix (PyYAML's safe loader would keep the last key silently)."""
from __future__ import annotations

from pathlib import Path

import yaml

from benchmark.core.errors import UsageError


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding one key twice (``learners:`` twice: which one counts?)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor`` merges; its keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r} (first at line {seen[key]}); keep one of them",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: the base loader says so
                    continue
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, what: str):
    """The YAML document in ``text`` (``what`` names it in messages: ``grid g.yaml``, ``--set value``)."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{what}: not valid YAML{where}: {problem}; fix the file (a YAML checker names the same "
                         f"place)") from None


def read_yaml(path: Path, what: str):
    """The YAML document of the file ``path``; not UTF-8, or not valid YAML, or a key twice: UsageError with the
    file and the line."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise UsageError(f"{what} {path}:{line}: not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                         f"re-save the file as UTF-8") from None
    return parse_yaml(text, f"{what} {path}")
