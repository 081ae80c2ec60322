"""Cells: the units of work, each with a stable id = readable name + hash of its sorted config.

fit (task x method x fit seed) -> distill (+ DPC x set seed) -> evaluate (+ learner x eval seed).
Each depends on the one before, so one fit serves every DPC and one distilled set every learner.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
from dataclasses import dataclass

from benchmark.core import labels
from benchmark.study.describe import describe_learner, describe_method
from benchmark.study.grid import Component, Grid

STAGES = ("fit", "distill", "evaluate")


def derive_seed(*coordinates) -> int:
    """A 31-bit seed that depends only on the given coordinates (stable across runs and machines)."""
    digest = hashlib.sha256(json.dumps(coordinates, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _cell_id(readable: str, config: dict) -> str:
    """The readable name and a hash of the config, in which a custom task counts by its files' content
    (``_task_identity``), not by where they lie."""
    identity = {**config, "task": _task_identity(config["task"])}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class FitCell:
    task: Component
    method: Component
    fit_seed: int = 0
    stage = "fit"
    parent = None  # the cell whose record this one reads (none for a fit)

    @property
    def fit_cell(self) -> "FitCell":
        return self

    @property
    def config(self) -> dict:
        """Task, method and seed; for methods whose unset parameters come from a preset, also the resolved
        values (``method_config``), so a changed preset makes new cells instead of reusing old ones."""
        config = {"task": self.task.as_dict(), "method": self.method.as_dict(), "fit_seed": self.fit_seed}
        resolved = _resolved_config(self.method.key, self.task.key)
        if resolved is not None:
            config["method_config"] = json.loads(resolved)
        return config

    @property
    def id(self) -> str:
        return _cell_id(f"{_task_label(self.task)}.{self.method.name}.f{self.fit_seed}", self.config)

    @property
    def tag(self) -> str:
        """The fit in its sets' readable ids: nothing for the first fit (the ids before ``n_fits``), ``.f1``..."""
        return f".f{self.fit_seed}" if self.fit_seed else ""


@dataclass(frozen=True)
class DistillCell:
    fit: FitCell
    dpc: int | None  # None: the method's set does not depend on DPC (``full``)
    set_seed: int
    stage = "distill"

    @property
    def parent(self) -> FitCell:
        return self.fit

    @property
    def fit_cell(self) -> FitCell:
        return self.fit

    @property
    def config(self) -> dict:
        return {**self.fit.config, "dpc": self.dpc, "set_seed": self.set_seed}

    @property
    def id(self) -> str:
        dpc = "all" if self.dpc is None else self.dpc
        readable = f"{_task_label(self.fit.task)}.{self.fit.method.name}{self.fit.tag}.dpc{dpc}.s{self.set_seed}"
        return _cell_id(readable, self.config)


@dataclass(frozen=True)
class EvalCell:
    distill: DistillCell
    learner: Component
    run: int  # index of the learner run on this set; its training seed is derived from the coordinates

    stage = "evaluate"

    @property
    def parent(self) -> DistillCell:
        return self.distill

    @property
    def fit_cell(self) -> FitCell:
        return self.distill.fit

    @property
    def eval_seed(self) -> int:
        return derive_seed("evaluate", self.distill.set_seed, self.run)

    @property
    def config(self) -> dict:
        return {**self.distill.config, "learner": self.learner.as_dict(), "run": self.run, "eval_seed": self.eval_seed}

    @property
    def id(self) -> str:
        d = self.distill
        dpc = "all" if d.dpc is None else d.dpc
        readable = f"{_task_label(d.fit.task)}.{d.fit.method.name}{d.fit.tag}.dpc{dpc}.s{d.set_seed}"
        return _cell_id(f"{readable}.{self.learner.name}.r{self.run}", self.config)


def _task_identity(task: dict) -> dict:
    """A task as its cell ids see it: its registry name and parameters; a custom task's spec path replaced by the
    digest of its spec and data (``custom.spec_identity``), so the same files at another path (a clone, a cluster's
    mount) make the same cells and resume, and changed files make new ones."""
    if task["name"] != "custom":
        return task
    from benchmark.tasks.custom import spec_identity

    return {"name": "custom", "params": {"content": spec_identity(task["params"]["spec"])[1]}}


def _task_label(task: Component) -> str:
    """The task's name in cell ids: the registry name, or a custom task's own name from its spec."""
    if task.name != "custom":
        return task.name
    from benchmark.tasks.custom import spec_identity

    return spec_identity(task.kwargs["spec"])[0]


@functools.lru_cache(maxsize=None)
def _resolved_config(method_key: str, task_key: str) -> str | None:
    """A method's preset-resolved config for a task (presets may set values per task) as JSON (cached: a grid asks
    for it once per cell)."""
    from benchmark.tasks import TASKS
    from methods import METHODS

    method, task = json.loads(method_key), json.loads(task_key)
    task_name = TASKS.create(task["name"], **task["params"]).name  # a custom task's name is in its spec
    resolved = METHODS.get(method["name"]).resolved_config(method["params"], task_name)
    return None if resolved is None else json.dumps(resolved, sort_keys=True)


def applicable(method: Component, learner: Component) -> bool:
    """Whether the learner can train on the method's kind of set (an embedding-level set trains only
    learners of its own embedding space; an empty set only prompts in-context learners)."""
    return pair_status(method, learner) == "run"


def pair_status(method: Component, learner: Component) -> str:
    """How a (method, learner) pair shows in tables (``benchmark.core.labels.pair_status``)."""
    m, lr = describe_method(method.name, method.kwargs), describe_learner(learner.name, learner.kwargs)
    return labels.pair_status(m["kind"], m["embedding_space"], lr["accepts"], lr["embedding_space"])


def expand(grid: Grid) -> dict[str, list]:
    """The grid's cells per stage, each once. A method whose fit is seeded (a trained generator) gets n_fits fits
    and n_sets sets from each; a deterministic method (every seed gives the same set) gets one set with n_evals
    learner runs; a DPC-independent method gets one set shown under every DPC."""
    from methods import METHODS

    cells: dict[str, dict] = {stage: {} for stage in STAGES}
    for task in grid.tasks:
        for method in grid.methods:
            cls = METHODS.get(method.name)
            fits = [FitCell(task, method, seed) for seed in range(grid.n_fits if cls.seeded_fit else 1)]
            cells["fit"].update((fit.id, fit) for fit in fits)
            dpcs = [None] if cls.dpc_independent else grid.dpcs
            set_seeds = [0] if cls.deterministic else range(grid.n_sets)
            for fit, dpc, set_seed in itertools.product(fits, dpcs, set_seeds):
                distill = DistillCell(fit, dpc, set_seed)
                cells["distill"][distill.id] = distill
                for learner in grid.learners:
                    if not applicable(method, learner) or dpc is not None and dpc not in grid.dpcs_of(learner):
                        continue
                    for run in range(grid.n_evals):
                        cell = EvalCell(distill, learner, run)
                        cells["evaluate"][cell.id] = cell
    return {stage: list(by_id.values()) for stage, by_id in cells.items()}
