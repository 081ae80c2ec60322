"""Grid files: the tasks x DPCs x methods x learners x seeds of a study, read from YAML and validated.

A component (task, method, learner) is written as a name or as ``{name: ..., params: {...}}``.
Presets ship in ``benchmark/grids/``; ``--grid PATH`` reads a user's file.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from benchmark.core.errors import UsageError, did_you_mean
from benchmark.core.names import safe_name
from benchmark.core.yamlfile import parse_yaml, read_yaml

GRID_KEYS = {"name", "description", "tasks", "dpcs", "methods", "learners", "recipes", "n_fits", "n_sets",
             "n_evals", "executor", "slurm_profile", "baseline"}
EXECUTOR_NAMES = ("local", "slurm")


@dataclass(frozen=True)
class Component:
    """A registry name with its hyper-parameters; ``key`` is a stable, hashable form."""

    name: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def kwargs(self) -> dict:
        return dict(self.params)

    def as_dict(self) -> dict:
        return {"name": self.name, "params": self.kwargs}

    @property
    def key(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


@dataclass
class Grid:
    name: str
    tasks: list[Component]
    dpcs: list[int]
    methods: list[Component]
    learners: list[Component]
    n_sets: int = 1
    n_evals: int = 1
    n_fits: int = 1  # fits per method whose fit is seeded (a trained generator); n_sets sets from each
    executor: str = "local"
    slurm_profile: str = "local"
    description: str = ""
    source: str = field(default="<memory>", compare=False)
    learner_dpcs: dict = field(default_factory=dict)  # learner Component -> the DPCs it trains on (default: all)
    baseline: str | None = None  # the method every row is tested against (default: the one flagged ``baseline``)

    def dpcs_of(self, learner: Component) -> list[int]:
        """The DPCs ``learner`` sees: its own ``dpcs`` (a subset of the grid's) or every DPC of the grid."""
        return [d for d in self.learner_dpcs.get(learner, self.dpcs) if d in self.dpcs]


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("benchmark.grids").iterdir() if p.name.endswith(".yaml"))


OVERRIDE_KEYS = ("tasks", "methods", "learners", "dpcs", "n_fits", "n_sets", "n_evals")  # the command line's named overrides


def load_grid(name_or_path: str, sets: list[str] = (), overrides: dict | None = None, name: str | None = None,
              reference: bool = True) -> Grid:
    """A preset by name (``demo``) or a grid YAML file by path, with ``--set KEY=VALUE`` assignments and the
    command line's named ``overrides`` (``{"dpcs": [5], "learners": ["minilm"], ...}``) applied to its mapping
    before it is checked, so a flag meets the same checks, and messages, as the file's key. Overriding the methods
    keeps the grid's reference rows (Full, Random) unless ``reference`` is False, which drops them.

    The study's name (its leaderboard folder and page title) is ``name`` as given, else a ``name`` set with
    ``--set``, else, for an overridden grid, one made of what it runs (``trec6-random-herding``: an ad-hoc run
    never overwrites the preset's leaderboard), else the file's ``name:``."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise UsageError(f"grid file {path} does not exist")
        data, source = read_yaml(path, "grid"), str(path)
    elif name_or_path in preset_names():
        text = resources.files("benchmark.grids").joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        source = f"preset {name_or_path!r}"
        data = parse_yaml(text, f"grid {source}")
    else:
        import difflib

        close = difflib.get_close_matches(name_or_path, preset_names(), n=2)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UsageError(f"unknown grid {name_or_path!r}.{hint} Presets: {', '.join(preset_names())}; "
                         f"or pass the path of a grid .yaml file.")
    if path.is_file():
        data = _anchor_task_specs(data, path)
        if isinstance(data, dict) and not data.get("name"):  # the file's name names the grid
            data = {**data, "name": safe_name(path.stem, "grid name", f"grid {source}: its file name (no 'name' key)")}
    for assignment in sets:
        data = apply_set(data, assignment, source)
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    if given:
        data = apply_overrides(data, given, source, reference)
    if not reference and "methods" not in given:
        data = _without_reference(data, source)
    flags = [f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in given.items()]
    flags += [] if reference else ["--no-reference"]
    grid = parse_grid(data, source + "".join(f" --set {s}" for s in sets) + (" with " + " ".join(flags) if flags else ""))
    named_by_set = any(s.split("=", 1)[0].strip() == "name" for s in sets)
    if name is not None:
        grid.name = safe_name(name, "study name", "--name")
    elif (given or sets or not reference) and not named_by_set:
        grid.name = name_after(grid.name, [_task_name(t) for t in grid.tasks], given, sets, reference)
    return grid


def name_after(grid_name: str, task_names: list[str], given: dict, sets, reference: bool = True) -> str:
    """The name of a study made with flags, from what it runs: its tasks and the methods named (or the grid's name
    when neither was overridden), then the learners, DPCs, counts and ``--set`` assignments given. Too long a name
    keeps its first 90 characters and a hash of the rest."""
    parts = [*task_names, *map(str, given.get("methods", []))] if {"tasks", "methods"} & set(given) else [grid_name]
    parts += [str(learner) for learner in given.get("learners", [])]
    if "dpcs" in given:
        parts.append("dpc" + "-".join(map(str, given["dpcs"])))
    parts += [f"{given[key]}{key[2:]}" for key in ("n_fits", "n_sets", "n_evals") if key in given]
    parts += list(sets) + ([] if reference else ["no-reference"])
    slug = re.sub(r"[^a-z0-9._]+", "-", "-".join(Path(p).stem if _is_spec(p) else p for p in parts).lower()).strip("-")
    if len(slug) > 100:
        slug = f"{slug[:90].rstrip('-')}-{hashlib.sha256(slug.encode()).hexdigest()[:6]}"
    return slug


def _task_name(task: Component) -> str:
    """A task's name for a study's name: a registered name, or the ``name`` a custom task's spec declares (else the
    spec file's stem)."""
    if task.name != "custom":
        return task.name
    spec = Path(task.kwargs.get("spec", ""))
    declared = (_spec_names(str(spec)) - {str(spec), spec.stem}) if spec.is_file() else set()
    return sorted(declared)[0] if declared else spec.stem


def _without_reference(data, source: str):
    """The grid mapping without its reference methods (Full, Random): ``--no-reference`` without ``--methods``."""
    if not isinstance(data, dict) or not isinstance(data.get("methods"), list):
        return data
    kept = [entry for entry in data["methods"] if not _is_reference(entry)]
    if not kept:
        raise UsageError(f"grid {source}: --no-reference leaves no method; name the methods to compare with --methods")
    return {**data, "methods": kept}


def _is_reference(entry) -> bool:
    """Whether a grid's method entry is a reference row (its class says ``reference``, e.g. full, random)."""
    from methods import METHODS

    name = entry if isinstance(entry, str) else entry.get("name") if isinstance(entry, dict) else None
    return isinstance(name, str) and name in METHODS and bool(getattr(METHODS.get(name), "reference", False))


def _anchor_task_specs(data, grid_file: Path):
    """The grid file's own task specs (``tasks: [my_task.yaml]``) as absolute paths, relative to the grid file, so
    they stay the file's when overrides rename the grid's source (a spec given on the command line is the working
    directory's)."""
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        return data
    anchored = [str((grid_file.parent / t).resolve()) if _is_spec(t) and not Path(t).is_absolute() else t
                for t in data["tasks"]]
    return {**data, "tasks": anchored}


def apply_overrides(data, given: dict, source: str, reference: bool = True):
    """The named overrides on the grid mapping. A component named again keeps its entries (its params; every entry
    of that name, e.g. a learner with and without class weights; a grid's .yaml task spec by its declared name or file
    stem); a task given as a .yaml spec is read relative to the working directory; a learner's own ``dpcs`` narrow to the
    overridden ones, and a learner left with none is left out; the grid's reference methods not named stay first
    (unless ``reference`` is False)."""
    if not isinstance(data, dict):
        raise UsageError(f"grid {source}: expected a mapping to apply the command line's overrides to")
    unknown = set(given) - set(OVERRIDE_KEYS)
    if unknown:
        raise UsageError(f"overrides {sorted(unknown)}: not overridable; overridable: {', '.join(OVERRIDE_KEYS)}")
    data = {**data, **{k: v for k, v in given.items() if k not in ("tasks", "methods", "learners")}}
    for key in ("tasks", "methods", "learners"):
        if key in given:
            entries: dict[str, list] = {}
            for e in data.get(key) or []:
                if isinstance(e, (str, dict)):
                    names = _spec_names(e) if key == "tasks" else {e if isinstance(e, str) else e.get("name")}
                    for name in names:
                        entries.setdefault(name, []).append(e)
            if key == "tasks":
                _check_task_names(given[key], entries, source)
            data[key] = [entry for n in given[key] for entry in (
                [str(Path(n).resolve())] if key == "tasks" and _is_spec(str(n))
                else entries.get(n, [n]))]
            if key == "methods" and reference:
                kept = [e for n, es in entries.items() if n not in given[key] for e in es if _is_reference(e)]
                data[key] = kept + data[key]
    if "dpcs" in given and isinstance(given["dpcs"], list):
        narrowed = []
        for entry in data.get("learners") or []:
            if isinstance(entry, dict) and isinstance(entry.get("dpcs"), list):
                own = [d for d in entry["dpcs"] if d in given["dpcs"]]
                if not own:
                    continue
                entry = {**entry, "dpcs": own}
            narrowed.append(entry)
        if not narrowed:
            raise UsageError(f"grid {source}: no learner trains at --dpcs {given['dpcs']} (each learner's own 'dpcs' "
                             f"leaves it out); pass other DPCs or --learners")
        data["learners"] = narrowed
    return data


def _is_spec(entry) -> bool:
    """Whether a task entry is the path of a .yaml spec of one's own data rather than a registered name."""
    return isinstance(entry, str) and entry.endswith((".yaml", ".yml"))


def _check_task_names(names: list, entries: dict, source: str) -> None:
    """UsageError for a ``--tasks`` name that is neither the grid's nor registered nor a .yaml spec, with the
    closest of both (a misspelt custom task's name would otherwise only be compared with the registry's)."""
    from benchmark.tasks import TASKS

    for name in names:
        name = str(name)
        if name not in entries and name not in TASKS and not _is_spec(name):
            grids = sorted(str(n) for n in entries if not _is_spec(str(n)))
            raise UsageError(f"unknown task {name!r}{did_you_mean(name, set(grids) | set(TASKS.names())) or '.'}"
                             f" The grid {source} has {', '.join(grids) or 'none'}; registered: "
                             f"{', '.join(TASKS.names())}; or pass the path of a .yaml spec of your data.")


def _spec_names(entry) -> set:
    """The names a grid's task entry answers to on the command line: a registered name is itself; a .yaml spec is
    also its path, its file's stem and the ``name`` it declares (``--tasks my-task`` picks the grid's spec)."""
    if not _is_spec(entry):
        return {entry if isinstance(entry, str) else entry.get("name")}
    names = {entry, Path(entry).stem}
    try:
        declared = read_yaml(Path(entry), "task spec")
    except (OSError, UsageError):
        return names  # a missing or broken spec fails later, with the spec's own error
    if isinstance(declared, dict) and isinstance(declared.get("name"), str):
        names.add(declared["name"])
    return names


def apply_set(data, assignment: str, source: str):
    """``KEY=VALUE`` on the grid mapping: KEY is dotted (``n_sets``, ``learners.minilm.params.steps``;
    list entries are addressed by their name), VALUE is YAML (``5``, ``[5, 10]``, ``mean``)."""
    if "=" not in assignment:
        raise UsageError(f"--set {assignment!r}: expected KEY=VALUE, e.g. n_sets=5 or learners.minilm.params.steps=50")
    key, raw = assignment.split("=", 1)
    value = parse_yaml(raw, f"--set {assignment!r}: the value")
    if not isinstance(data, dict):
        raise UsageError(f"grid {source}: expected a mapping to apply --set {assignment!r} to")
    parts = key.split(".")
    if parts[0] not in GRID_KEYS:
        raise UsageError(f"--set {assignment!r}: unknown grid key {parts[0]!r}{did_you_mean(parts[0], GRID_KEYS)}; "
                         f"keys: {', '.join(sorted(GRID_KEYS))}")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if isinstance(child, list):  # a list of components: address an entry by its name
            name = parts[depth + 1]
            names = [c if isinstance(c, str) else c.get("name") for c in child]
            if name not in names:
                raise UsageError(f"--set {assignment!r}: no entry named {name!r} in {part}{did_you_mean(name, names)} "
                                 f"(entries: {', '.join(map(str, names))})")
            index = names.index(name)
            if isinstance(child[index], str):
                child[index] = {"name": name}
            node = child[index]
            if depth + 2 == len(parts):
                raise UsageError(f"--set {assignment!r}: set a field of {name!r}, e.g. {part}.{name}.params.KEY=VALUE")
            parts = parts[:depth + 1] + parts[depth + 2:]
            return _assign(data, node, parts[depth + 1:], value, assignment)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise UsageError(f"--set {assignment!r}: {part!r} is not a mapping")
        node = child
    node[parts[-1]] = value
    return data


def _assign(data, node: dict, rest: list[str], value, assignment: str):
    for part in rest[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UsageError(f"--set {assignment!r}: {part!r} is not a mapping")
    node[rest[-1]] = value
    return data


def parse_grid(data, source: str) -> Grid:
    """Validate a grid mapping; every error names the file (``source``) and the key."""
    if not isinstance(data, dict):
        raise UsageError(f"grid {source}: expected a mapping of keys ({', '.join(sorted(GRID_KEYS))}), got {type(data).__name__}")
    unknown = set(data) - GRID_KEYS
    if unknown:
        raise UsageError(f"grid {source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"allowed keys: {', '.join(sorted(GRID_KEYS))}")
    for key in ("tasks", "dpcs", "methods", "learners"):
        if key not in data:
            raise UsageError(f"grid {source}: missing key {key!r}")
    dpcs = _positive_ints(data["dpcs"], "dpcs", source)
    learners = _with_recipes(_components(data["learners"], "learners", source), data.get("recipes"), source)
    learner_dpcs = {}
    for i, (entry, learner) in enumerate(zip(data["learners"], learners)):
        if isinstance(entry, dict) and "dpcs" in entry:
            own = _positive_ints(entry["dpcs"], f"learners[{i}].dpcs", source)
            if set(own) - set(dpcs):
                raise UsageError(f"grid {source}: learners[{i}].dpcs {own} must be a subset of the grid's dpcs {dpcs}")
            learner_dpcs[learner] = own
    methods = _components(data["methods"], "methods", source)
    baseline = data.get("baseline")
    if baseline is not None and [m.name for m in methods].count(baseline) != 1:
        raise UsageError(f"grid {source}: baseline {baseline!r} must name one of the grid's methods, written once "
                         f"({', '.join(m.name for m in methods)}); leave it out to test against the reference flagged "
                         f"as the baseline (Random)")
    return Grid(
        name=safe_name(str(data.get("name") or Path(source).stem), "grid name", f"grid {source}: key 'name'"),
        tasks=_components(data["tasks"], "tasks", source),
        dpcs=dpcs,
        methods=methods,
        learners=learners,
        n_sets=_positive_int(data.get("n_sets", 1), "n_sets", source),
        n_evals=_positive_int(data.get("n_evals", 1), "n_evals", source),
        n_fits=_positive_int(data.get("n_fits", 1), "n_fits", source),
        executor=_choice(data.get("executor", "local"), EXECUTOR_NAMES, "executor", source),
        slurm_profile=str(data.get("slurm_profile", "local")),
        description=str(data.get("description", "")),
        source=source,
        learner_dpcs=learner_dpcs,
        baseline=baseline,
    )


def _with_recipes(learners: list[Component], recipes, source: str) -> list[Component]:
    """Each learner with its family's recipe overrides (the ``recipes`` key) merged into its params."""
    from benchmark.learners.recipes import apply_recipes, check_recipes
    from benchmark.core.registry import UnknownNameError

    recipes = check_recipes(recipes, source)
    if not recipes:
        return learners
    out = []
    for learner in learners:
        try:
            params = apply_recipes(learner.name, learner.kwargs, recipes, source)
        except UnknownNameError:  # an unknown learner is reported, with did-you-mean, by validation
            params = learner.kwargs
        out.append(Component(learner.name, tuple(sorted(params.items()))))
    return out


def _components(value, key: str, source: str) -> list[Component]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"grid {source}: key {key!r} must be a non-empty list")
    out = []
    for i, item in enumerate(value):
        if key == "tasks" and _is_spec(item):
            out.append(task_component(item))
            continue
        if isinstance(item, str):
            out.append(Component(safe_name(item, f"{key[:-1]} name", f"grid {source}: {key}[{i}]")))
            continue
        allowed = {"name", "params", "dpcs"} if key == "learners" else {"name", "params"}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or set(item) - allowed:
            raise UsageError(f"grid {source}: {key}[{i}] must be a name or a mapping with 'name' and optional "
                             f"{' and '.join(repr(k) for k in sorted(allowed - {'name'}))}, got {item!r}")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise UsageError(f"grid {source}: {key}[{i}].params must be a mapping, got {params!r}")
        name = safe_name(item["name"], f"{key[:-1]} name", f"grid {source}: {key}[{i}].name")
        out.append(Component(name, tuple(sorted(params.items()))))
    return out


def _choice(value, choices: tuple, key: str, source: str) -> str:
    if value not in choices:
        raise UsageError(f"grid {source}: key {key!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def task_component(spec: str) -> Component:
    """A task given as a YAML spec of your own data: the ``custom`` task with that file (a grid file's own specs
    are already anchored to it, ``_anchor_task_specs``; any other relative path is the working directory's)."""
    return Component("custom", (("spec", str(Path(spec).resolve())),))


def _positive_int(value, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"grid {source}: key {key!r} must be a positive integer, got {value!r}")
    return value


def _positive_ints(value, key: str, source: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"grid {source}: key {key!r} must be a non-empty list of positive integers")
    return [_positive_int(v, f"{key}[{i}]", source) for i, v in enumerate(value)]
