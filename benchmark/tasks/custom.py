"""Your own data as a task: a small YAML naming a local CSV or TSV, JSON Lines, JSON array or
``datasets.save_to_disk`` folder, its text field(s) and label field. Use it anywhere a task name goes
(``--tasks my_task.yaml``, or ``tasks: [my_task.yaml]`` in a grid). Bad files fail with the file, line or column
in the message.

    name: my-reviews              # the task's name in records and tables
    path: reviews.csv             # relative to this YAML file
    text_fields: [text]           # one field, or two for sentence pairs
    label_field: label
    label_names: [negative, positive]   # optional: else the sorted distinct labels; with names given, a file whose
                                        # labels are all 0..k-1 (datasets' ClassLabel) reads them as indices
    label_words: [bad, good]      # optional: the words naming the classes in ICL prompts (else the names)
    test_path: reviews-test.csv   # optional: a given test split (else a seeded stratified one)
    metric: accuracy              # optional: accuracy (default), macro_f1 or acc_and_f1
"""
from __future__ import annotations

import functools
import hashlib

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from benchmark.core.errors import UsageError
from benchmark.core.names import safe_name
from benchmark.core.yamlfile import read_yaml
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task

SPEC_KEYS = {"name", "path", "text_fields", "label_field", "label_names", "label_words", "test_path", "metric"}
METRICS = ("accuracy", "macro_f1", "acc_and_f1")


def read_rows(path: Path) -> list[tuple[int | str, dict]]:
    """(where, row) pairs from a CSV or TSV, a JSON Lines file, a JSON array of objects or a save_to_disk folder:
    where is a row's line number (its item index, ``item 3``, in a JSON array); clear errors."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    if path.is_dir():
        from datasets import Dataset, load_from_disk

        try:
            data = load_from_disk(str(path))
        except FileNotFoundError:
            raise UsageError(f"{path}: a folder, but not one written by datasets' save_to_disk (no dataset_info.json "
                             f"or state.json); point path at a CSV, a JSON Lines file or a save_to_disk folder") from None
        if not isinstance(data, Dataset):  # a DatasetDict: name one split
            splits = ", ".join(f"{path / name}" for name in data)
            raise UsageError(f"{path}: a DatasetDict (splits {', '.join(data)}); set path to one split's folder, e.g. "
                             f"{splits.split(', ')[0]} (and test_path to another: {splits})")
        return [(i + 1, row) for i, row in enumerate(data)]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (spreadsheet exports) is not part of the first column's name
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                         f"re-save the file as UTF-8") from None
    if path.suffix in (".csv", ".tsv"):
        return _csv_rows(path, text)
    if path.suffix == ".json" and text.lstrip().startswith("["):
        return _json_array(path, text)
    if path.suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{number}: not a JSON object: {exc}") from None
        return rows
    raise UsageError(f"{path}: unknown format {path.suffix!r}; use .csv, .tsv, .jsonl, .json (JSON Lines or an array "
                     f"of objects) or a datasets save_to_disk folder")


CSV_FIELD_LIMIT = 2 ** 31 - 1  # csv's own limit is 128 KiB a field: a long document is a text, not an error


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line, row) pairs of a CSV or TSV whose header names each column once; a malformed file names its line."""
    import csv
    import io

    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    # strict: a quote opened and never closed is an error, not the rest of the file read as one field
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix == ".tsv" else ",", strict=True)
    try:
        header = reader.fieldnames or []
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise UsageError(f"{path}:1: column(s) {', '.join(map(repr, twice))} named twice in the header (which "
                             f"one holds the data?); rename or drop the extra column")
        rows = []
        for row in reader:
            if None in row:  # more fields than the header names: which column is which?
                raise UsageError(f"{path}:{reader.line_num}: {len(header) + len(row[None])} fields, but the header "
                                 f"names {len(header)}; quote fields that hold the delimiter")
            rows.append((reader.line_num, row))
        return rows
    except csv.Error as exc:
        raise UsageError(f"{path}:{reader.line_num}: not a readable {path.suffix[1:].upper()} file: {exc}; fix that "
                         f"line (close every quote; quote fields holding the delimiter or a line break)") from None


def _json_array(path: Path, text: str) -> list[tuple[str, dict]]:
    """The objects of a JSON array file, each named by its index."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not a JSON array of objects: {exc}") from None
    bad = next((i for i, item in enumerate(items) if not isinstance(item, dict)), None)
    if bad is not None:
        raise UsageError(f"{path}:item {bad}: not a JSON object (a row needs its fields by name)")
    return [(f"item {i}", item) for i, item in enumerate(items)]


@TASKS.register("custom")
@dataclass
class CustomTask(Task):
    """Your own labelled text data (CSV, JSONL or save_to_disk), declared in a small YAML file (params: spec)."""

    spec: str = ""

    @cached_property
    def _spec(self) -> dict:
        path = Path(self.spec)
        if not path.is_file():
            raise UsageError(f"task spec {path} does not exist")
        data = read_yaml(path, "task spec")
        if not isinstance(data, dict):
            raise UsageError(f"task spec {path}: expected a mapping with keys {', '.join(sorted(SPEC_KEYS))}")
        unknown, missing = set(data) - SPEC_KEYS, {"name", "path", "text_fields", "label_field"} - set(data)
        if unknown or missing:
            raise UsageError(f"task spec {path}: " + "; ".join(
                ([f"unknown key(s) {', '.join(sorted(unknown))}"] if unknown else [])
                + ([f"missing key(s) {', '.join(sorted(missing))}"] if missing else [])))
        fields = data["text_fields"]
        if not isinstance(fields, list) or not 1 <= len(fields) <= 2:
            raise UsageError(f"task spec {path}: text_fields must be a list of one or two column names")
        if data.get("metric", "accuracy") not in METRICS:
            raise UsageError(f"task spec {path}: metric must be one of {', '.join(METRICS)}")
        declared = str(data["name"]) if isinstance(data["name"], (int, float)) else data["name"]  # a number: its text
        return {**data, "name": safe_name(declared, "task name", f"task spec {path}: key 'name'"), "_dir": path.parent}

    @property
    def name(self) -> str:
        return self._spec["name"]

    @property
    def text_fields(self) -> tuple[str, ...]:
        return tuple(self._spec["text_fields"])

    @property
    def metric(self) -> str:
        return self._spec.get("metric", "accuracy")

    @cached_property
    def label_names(self) -> tuple[str, ...]:
        if self._spec.get("label_names"):
            return tuple(str(n) for n in self._spec["label_names"])
        labels = set(self._files["path"][1])
        numeric = all(label.lstrip("-").isdigit() for label in labels)
        return tuple(sorted(labels, key=int if numeric else str))  # numeric labels in number order: "2" before "10"

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(str(w) for w in self._spec.get("label_words") or ())

    def get_params(self) -> dict:
        return {**super().get_params(), "spec": self.spec}

    @cached_property
    def content_digest(self) -> str:
        """sha256 of the spec and the data it names (files, or every file of a save_to_disk folder): what the task
        is, wherever its files lie (cell ids use it instead of the spec's path)."""
        digest = hashlib.sha256(Path(self.spec).read_bytes())
        for path in self.data_paths:
            for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                if file.is_file():
                    digest.update(str(file.relative_to(path) if path.is_dir() else path.name).encode())
                    digest.update(file.read_bytes())
        return digest.hexdigest()

    @property
    def data_paths(self) -> list[Path]:
        """The data the spec names: its ``path`` and, when given, its ``test_path``."""
        return [self._path(key) for key in ("path", "test_path") if self._spec.get(key)]

    def _path(self, key: str) -> Path:
        return self._spec["_dir"] / self._spec[key]

    @cached_property
    def _files(self) -> dict[str, tuple[list, list[str], list]]:
        """Each file the spec names, by its key (``path``, ``test_path``), read and checked once."""
        declared = tuple(str(n) for n in self._spec.get("label_names") or ())
        return {key: read_labelled(self._path(key), self.text_fields, self._spec["label_field"], declared)
                for key in ("path", "test_path") if self._spec.get(key)}

    def _examples(self, key: str) -> Examples:
        texts, labels, numbers = self._files[key]
        index = self._label_index
        for label, number in zip(labels, numbers):
            if label not in index:
                raise UsageError(f"{self._path(key)}:{number}: label {label!r} is not one of "
                                 f"{', '.join(self.label_names)} (label_names in {self.spec}); a file may also give "
                                 f"every label as an index 0..{len(self.label_names) - 1} into label_names")
        return Examples(tuple(texts), np.asarray([index[label] for label in labels], dtype=np.int64))

    @cached_property
    def _label_index(self) -> dict[str, int]:
        """Label text -> class index: by name; or, when names are given and every label of every file the spec names
        (train and test read the same way) is an index 0..k-1 that is not itself a name (datasets' ClassLabel ints),
        by position."""
        by_name = {name: i for i, name in enumerate(self.label_names)}
        if not self._spec.get("label_names"):
            return by_name
        positions = {str(i): i for i in range(len(self.label_names))}
        given = {label for _, labels, _ in self._files.values() for label in labels}
        return positions if given <= positions.keys() and not given & by_name.keys() else by_name

    def load_examples(self) -> Examples:
        return self._examples("path")

    def load_given_test(self) -> Examples | None:
        return self._examples("test_path") if self._spec.get("test_path") else None


MISSING_LABELS = {"nan", "null", "none", "na", "n/a", "#n/a"}  # what spreadsheets and pandas write for "no value"


def read_labelled(path: Path, text_fields: tuple[str, ...], label_field: str,
                  declared: tuple[str, ...] = ()) -> tuple[list, list[str], list]:
    """A file's texts, label texts and row numbers (for messages), every row checked: no missing column, no empty
    text or label, no label that reads as a missing value (``nan``, ``null``...) unless ``declared`` names it."""
    rows = read_rows(path)
    if not rows:
        raise UsageError(f"{path}: no rows")
    missing = [c for c in [*text_fields, label_field] if c not in rows[0][1]]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(rows[0][1])}")
    texts, labels, numbers = [], [], []
    for number, row in rows:
        text = tuple("" if row.get(f) is None else str(row[f]).strip() for f in text_fields)
        empty = [f for f, t in zip(text_fields, text) if not t]
        if empty:
            raise UsageError(f"{path}:{number}: empty text in column {', '.join(empty)}")
        label = _label(row, label_field)
        if not label:
            raise UsageError(f"{path}:{number}: empty label in column {label_field}")
        if label.lower() in MISSING_LABELS and label not in declared:
            raise UsageError(f"{path}:{number}: label {label!r} in column {label_field} reads as a missing value, not "
                             f"a class; give the row its label or drop it (a class really named {label!r}: list it "
                             f"in label_names)")
        texts.append(text)
        labels.append(label)
        numbers.append(number)
    return texts, labels, numbers


def _label(row: dict, field: str) -> str:
    """A row's label as text, without surrounding spaces ("pos " and "pos" are one class); "" when it has none."""
    value = row.get(field)
    return "" if value is None else str(value).strip()


def spec_identity(spec: str) -> tuple[str, str]:
    """A custom task's (name, ``content_digest``) for cell ids, read once per version of its files (spec and data,
    by mtime and size) in a process."""
    data = _data_paths(spec, _stamp(Path(spec))) if Path(spec).is_file() else ()
    return _identity(spec, (_stamp(Path(spec)), *map(_stamp, data)))


def _stamp(path: Path):
    stat = path.stat() if path.exists() else None
    return stat and (stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=None)
def _data_paths(spec: str, stamp) -> tuple[Path, ...]:
    return tuple(CustomTask(spec=spec).data_paths)


@functools.lru_cache(maxsize=None)
def _identity(spec: str, stamps) -> tuple[str, str]:
    task = CustomTask(spec=spec)
    return task.name, task.content_digest
