"""The import rules of the layers (docs/architecture.md), read from the source with ``ast``: no import circle, and
no arrow from a layer to one it may not use."""
from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "methods", "dilm")

# layer (a module prefix) -> the layers its modules may import; the most specific prefix decides
RULES = {
    "benchmark.core": {"benchmark.core"},
    "dilm": {"dilm"},
    "benchmark.tasks": {"benchmark.core", "benchmark.tasks"},
    "benchmark.learners": {"benchmark.core", "benchmark.tasks", "benchmark.learners", "dilm.checkpoint",
                           "dilm.precision"},
    "methods": {"benchmark.core", "benchmark.tasks", "methods", "dilm"},
    "benchmark.authoring": {"benchmark.core", "benchmark.tasks", "methods", "benchmark.authoring"},
    "benchmark.study": {"benchmark.core", "benchmark.tasks", "benchmark.learners", "methods", "benchmark.study"},
    # the rehearsal builds tiny stand-ins of DiLM's generator and times its selection
    "benchmark.study.rehearsal": {"benchmark.core", "benchmark.tasks", "benchmark.learners", "methods", "dilm",
                                  "benchmark.study"},
    "benchmark.report": {"benchmark.core", "benchmark.study.store", "benchmark.report"},  # records only, as written
    "benchmark.api": {"benchmark.core", "benchmark.tasks", "benchmark.learners", "methods", "benchmark.study",
                      "benchmark.report"},
    "benchmark.cli": {"benchmark.api", "benchmark.core", "benchmark.authoring"},
    "benchmark.__main__": {"benchmark.cli"},
    "benchmark": set(),  # the package itself and its data folders (grids)
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The modules of ours that ``name`` imports anywhere in its file (function-level imports included)."""
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(parts + ([node.module] if node.module else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(module: str) -> str:
    matches = [prefix for prefix in RULES if module == prefix or module.startswith(prefix + ".")]
    return max(matches, key=len)


def allowed(source: str, target: str) -> bool:
    return any(target == ok or target.startswith(ok + ".") for ok in RULES[layer(source)])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_reads_every_module_and_every_rule_meets_one():
    """The rules cannot pass on nothing: every ``.py`` file under the package roots is a module of the graph, every
    rule's layer and every layer it permits names modules that exist, and every permission across layers is used by
    some import (an arrow no module draws is a rule nobody checks: narrow it)."""
    files = [Path(folder, name) for package in PACKAGES for folder, _, names in os.walk(ROOT / package)
             for name in names if name.endswith(".py")]
    edges = graph()
    assert len(files) > 50 and len(edges) >= len(files)
    assert "benchmark.report.leaderboard" in edges and "benchmark.api" in edges

    def meets(prefix: str) -> bool:
        return any(module == prefix or module.startswith(prefix + ".") for module in edges)

    assert [prefix for prefix in RULES if not meets(prefix)] == []
    assert sorted({ok for oks in RULES.values() for ok in oks if not meets(ok)}) == []
    used = {(layer(source), ok) for source, targets in edges.items() for target in targets
            for ok in RULES[layer(source)] if target == ok or target.startswith(ok + ".")}
    unused = {(rule, ok) for rule, oks in RULES.items() for ok in oks if ok != rule and (rule, ok) not in used}
    assert unused == set(), "permissions no import uses: remove them from RULES"


def test_no_import_circles():
    assert cycles(graph()) == []


def test_every_import_follows_the_layer_rules():
    edges = graph()
    broken = {(source, target) for source, targets in edges.items() for target in targets
              if not allowed(source, target)}
    assert broken == set(), "arrows against the layer rules (see docs/architecture.md)"


def test_the_checker_sees_circles_and_forbidden_arrows():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert not allowed("benchmark.core.cache", "benchmark.tasks.base")
    assert not allowed("benchmark.report.leaderboard", "methods.base")
    assert not allowed("dilm.generator", "benchmark.core.assets")
    assert allowed("benchmark.report.clean", "benchmark.study.store")
    assert not allowed("benchmark.report.clean", "benchmark.study.cells")
    assert not allowed("benchmark.report.clean", "benchmark.tasks")
    assert not allowed("benchmark.study.runner", "dilm.generator")
    assert allowed("benchmark.study.rehearsal.standins", "dilm.generator")
    assert not allowed("benchmark.api", "dilm.config")



def test_the_command_line_only_parses_and_prints():
    """The CLI reaches the harness through ``benchmark.api`` (and the scaffold); it plans, runs and checks nothing itself."""
    assert not allowed("benchmark.cli", "benchmark.study.cells")
    assert not allowed("benchmark.cli", "benchmark.report.leaderboard")
    assert not allowed("benchmark.study.runner", "benchmark.api")
    assert {target.split(".")[1] if target.startswith("benchmark.") else target
            for target in graph()["benchmark.cli"]} <= {"api", "core", "authoring"}
