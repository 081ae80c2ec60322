"""``rehearse``: a grid's stages run for real on stand-ins, then projected to the real models and GPU.

The rehearsal grid keeps the grid's methods, learners and every resolved setting (presets, per-task values,
recipes) except three: hub tasks become stand-ins of the same size (``benchmark.tasks.glue_standins``), hub models
become tiny models of their architecture, and each loop runs the few steps of its class's ``REHEARSAL_PARAMS``;
only the largest DPC, one set and one learner run per method kind. Its cells go through the chosen executor into
their own runs folder; a probe times the selection code at the real embedding width. Each row then gets the
projection of ``projections`` for the real grid's cells of its kind.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmark.core.errors import UsageError
from benchmark.study.grid import Component, Grid
from benchmark.study.rehearsal import costs, projections
from benchmark.study.rehearsal.standins import ARCHITECTURES, SAMPLE_TOKENS, TINY, tiny_model_path
from benchmark.tasks.glue_standins import PROFILES

OFFLINE = ("minilm", "mpnet-base", "smollm2")


def stand_in_model(name: str) -> str:
    """A model name as the rehearsal loads it: offline models as they are, hub architectures as tiny stand-ins."""
    if name in OFFLINE or Path(name).exists():
        return name
    if name not in ARCHITECTURES:
        raise UsageError(f"rehearse: no tiny stand-in for model {name!r}; architectures: {', '.join(ARCHITECTURES)} "
                         f"(offline models run as they are: {', '.join(OFFLINE)})")
    return str(tiny_model_path(name))


def real_method_config(component: Component, task: str):
    """The method's settings in effect on ``task`` (its preset's per-task values included)."""
    from methods import METHODS

    cls = METHODS.get(component.name)
    method = cls(**component.kwargs)
    if hasattr(method, "config"):
        try:
            return method.config(task)
        except TypeError:  # a config() without per-task values
            return method.config()
    return method.get_params()


def _value(config, name: str):
    return config[name] if isinstance(config, dict) else getattr(config, name)


def rehearsal_grid(grid: Grid) -> Grid:
    """The grid with stand-in tasks, tiny models, a few steps per loop, the largest DPC, one set and one run."""
    from benchmark.learners import LEARNERS
    from methods import METHODS

    tasks = [Component("rehearsal", (("stands_for", t.name),)) if t.name in PROFILES else t for t in grid.tasks]
    first_task = grid.tasks[0].name
    methods = []
    for m in grid.methods:
        cls = METHODS.get(m.name)
        config = real_method_config(m, first_task)
        swapped = {name: stand_in_model(_value(config, name)) for name in cls.MODEL_PARAMS}
        methods.append(Component(m.name, tuple(sorted({**m.kwargs, **cls.REHEARSAL_PARAMS, **swapped}.items()))))
    learners = []
    for learner in grid.learners:
        cls = LEARNERS.get(learner.name)
        recipe = cls(**learner.kwargs).get_params()
        swapped = {name: stand_in_model(recipe[name]) for name in cls.MODEL_PARAMS}
        learners.append(Component(learner.name, tuple(sorted({**learner.kwargs, **cls.REHEARSAL_PARAMS,
                                                               **swapped}.items()))))
    return Grid(f"{grid.name}-rehearsal", tasks, [max(grid.dpcs)], methods, learners, 1, 1, source=grid.source + " (rehearsal)")


def rehearsal_cells(grid: Grid) -> dict[str, list]:
    """The rehearsal grid's cells; of the evaluate cells, one per (task, learner, kind of set); of the generative
    distill cells, one per (task, sampling shape): the others are its twins (``distill_twins``)."""
    from benchmark.study.cells import expand
    from methods import METHODS

    cells = expand(grid)
    seen, kept = set(), []
    for cell in cells["evaluate"]:
        key = (cell.fit_cell.task.key, cell.learner.key, METHODS.get(cell.fit_cell.method.name).kind)
        if key not in seen:
            seen.add(key)
            kept.append(cell)
    twins = distill_twins(cells["distill"])
    return {**cells, "evaluate": kept, "distill": [c for c in cells["distill"] if c.id not in twins]}


def distill_twins(distill_cells: list) -> dict:
    """Distill cells that run the same code on the same shapes as an earlier one (their methods' ``cost_model`` names
    the same distill projection and ``twins`` fields with equal values: vanilla-lm's and dilm's generators differ in
    weights only, and a tiny stand-in's weights do not change the work): id -> the cell measured."""
    from methods import METHODS

    first, twins = {}, {}
    for cell in distill_cells:
        method = cell.fit_cell.method
        model = METHODS.get(method.name).cost_model
        if model is None or not model.twins:
            continue
        config = real_method_config(method, cell.fit_cell.task.name)
        key = (cell.fit_cell.task.key, cell.dpc, str(model.distill), tuple(_value(config, f) for f in model.twins))
        if key in first:
            twins[cell.id] = first[key]
        else:
            first[key] = cell
    return twins


def selection_probe(width: int, rows: int, k: int, dpc: int) -> dict:
    """The selection code at the real width: k-means (its k-means++ init, then a few Lloyd iterations from that
    init) and herding on ``rows`` x ``width`` float32, with the peak memory of each; rates per unit of work for the
    projections. Init and iterations are timed apart (the difference of two whole runs drowned the iterations in
    the init's noise)."""
    from sklearn.cluster import KMeans, kmeans_plusplus

    from benchmark.core.provenance import PeakMemory
    from dilm.selection import nearest_untaken
    from methods.coreset_selection import herding

    x = np.random.default_rng(0).standard_normal((rows, width), dtype=np.float32)
    out = {"rows": rows, "width": width, "kmeans_k": k, "herding_k": dpc}
    iterations = 3
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        centers, _ = kmeans_plusplus(x, k, random_state=0)
        init_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        KMeans(n_clusters=k, init=centers, n_init=1, max_iter=iterations, tol=0.0).fit(x)
        iteration = max((time.perf_counter() - t0) / iterations, 1e-9)
        nearest_untaken(x, centers)  # the member nearest each centroid, at the real size
    out.update(kmeans_init_s=round(init_s, 2), kmeans_iteration_s=round(iteration, 3),
               kmeans_peak_rss_mib=memory.as_dict()["peak_rss_mib"])
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        herding(x, dpc)
        herding_s = time.perf_counter() - t0
    out.update(herding_s=round(herding_s, 2), herding_peak_rss_mib=memory.as_dict()["peak_rss_mib"])
    out["kmeans_s_per_flop"] = iteration / (rows * k * width)
    out["kmeans_init_s_per_flop"] = init_s / (rows * k * width)
    out["herding_s_per_flop"] = herding_s / (dpc * rows * width)
    return out


def fresh_process(function, *args):
    """``function(*args)`` in a new interpreter, so its peak memory is its own, not the runner's (which holds the
    local executor's caches: several GiB after the fits)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def profile_mem_gib(profile, stage: str) -> float | None:
    text = str(profile.for_stage(stage).get("mem", "")).strip().upper()
    if not text:
        return None
    units = {"K": 2 ** -20, "M": 2 ** -10, "G": 1, "T": 2 ** 10}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text) / 1024


def project_cell(kind: tuple, scale: projections.TaskScale, grid: Grid, stack_runs: int) -> costs.Cost | None:
    """The projection of one real cell of ``kind`` = (stage, method component, learner component or None, dpc), as
    its method's ``cost_model`` says (None: the method has none, "not modelled"); an evaluate cell on the path
    ``run --stack-runs stack_runs`` takes."""
    from benchmark.learners import LEARNERS
    from methods import METHODS

    stage, method, learner, dpc = kind
    cls = METHODS.get(method.name)
    config = real_method_config(method, scale.task.name)
    model = cls.cost_model
    if stage == "evaluate":
        recipe = LEARNERS.create(learner.name, **learner.kwargs).get_params()
        n_set = scale.n_train if cls.dpc_independent else dpc * scale.task.num_classes
        if cls.kind == "embedding":
            if model is None or model.evaluate_steps is None:
                return None
            return projections.evaluate(scale, recipe, n_set, embedding_steps=_value(config, model.evaluate_steps))
        if not (stack_runs > 1 and LEARNERS.get(learner.name).stackable and cls.kind == "text"):
            return projections.evaluate(scale, recipe, n_set)
        stack = projections.stack_for(scale, recipe, n_set, stack_runs, alone=cls.dpc_independent)
        cost = projections.evaluate(scale, recipe, n_set, stack)
        cost.width, cost.runs_per_task = stack.width, 1 if cls.dpc_independent else stack_runs
        return cost
    if model is None:
        return None
    if stage == "distill":
        return projections.project(model.distill, scale, config, dpc) if model.distill else costs.Cost()
    cost = costs.Cost()
    for label, projection in model.fit:
        if not _built_before(grid, method, label, projection, config, scale.task.name):
            cost.add(label, projections.project(projection, scale, config, None))
    return cost


def _built_before(grid: Grid, method: Component, label: str, projection, config, task: str) -> bool:
    """Whether a method listed before ``method`` in the grid builds the same shared part (its cost model's part of
    that label and projection, equal values of the part's ``shared`` fields): the cached build is made once (stage 1,
    shared by vanilla-lm and dilm; a coreset space's embeddings)."""
    from methods import METHODS

    fields = dict(METHODS.get(method.name).cost_model.shared).get(label)
    if fields is None:
        return False
    for other in grid.methods[:grid.methods.index(method)]:
        model = METHODS.get(other.name).cost_model
        if (model is not None and (label, projection) in model.fit and dict(model.shared).get(label) == fields
                and all(_value(real_method_config(other, task), f) == _value(config, f) for f in fields)):
            return True
    return False


@dataclasses.dataclass
class Row:
    task: str
    stage: str
    cells: int
    peak_rss_mib: float | None
    wall_s: float | None
    s_per_step: float | None
    cost: costs.Cost
    all_gpu_h: float
    all_cpu_h: float
    host_gib: float | None
    check: str = "ok"
    stack: str = ""  # an evaluate row's runs per stack, at each DPC
    requeues: str = ""  # how many times its longest Slurm array task is requeued at the profile's time limit
    unmodelled: str = ""  # the method of the row when it has no cost model (no projection: counted as nothing)

    @property
    def failed(self) -> bool:
        return self.check != "ok"


def run_rehearsal(grid: Grid, runs_dir: Path, executor: str, options: dict, gpu: costs.GPU, check_profile,
                  progress: bool, force: bool = False, stack_runs: int = 16) -> tuple[list[Row], dict]:
    """Run the rehearsal cells and the probes; one row per (task, stage kind) with its measurements and projection
    (evaluate cells on the path ``run --stack-runs stack_runs`` takes); ``meta["costs"]``: each real cell kind's
    projected seconds per cell, the estimate ``run --dry-run`` and Slurm's array grouping read."""
    from benchmark.study.cells import expand
    from benchmark.study.executors import EXECUTORS
    from benchmark.study.store import Store
    from benchmark.tasks import load_task

    rgrid = rehearsal_grid(grid)
    cells = rehearsal_cells(rgrid)
    every_distill = expand(rgrid)["distill"]
    store = Store(runs_dir)
    artifacts = Path(runs_dir) / "_artifacts"  # the cells' generators, embeddings and TDD sets: never the user's
    if force:
        for stage, stage_cells in cells.items():
            for cell in stage_cells:
                store.discard(stage, cell.id)
        shutil.rmtree(artifacts, ignore_errors=True)
    t0 = time.perf_counter()
    previous = os.environ.get("DILM_BENCH_ARTIFACTS")
    os.environ["DILM_BENCH_ARTIFACTS"] = str(artifacts.resolve())  # Slurm jobs inherit it
    try:
        outcome = EXECUTORS[executor](cells, store, progress=progress, stack=1, **options)
    finally:
        if previous is None:
            os.environ.pop("DILM_BENCH_ARTIFACTS")
        else:
            os.environ["DILM_BENCH_ARTIFACTS"] = previous
    unfinished = [(s, c.id) for s, cs in cells.items() for c in cs if not store.is_done(s, c.id)]
    if unfinished:
        failed = [(s, c) for s, c in unfinished if store.is_failed(s, c)]  # a cause before the cells waiting on it
        stage, cell_id = (failed or unfinished)[0]
        if store.is_failed(stage, cell_id):
            why = f"{store.error(stage, cell_id)['error'].splitlines()[0]} (log: {store.cell_dir(stage, cell_id) / 'log.txt'})"
        else:  # a job that died before the cell ran leaves no error record of the cell
            why = f"no record: its job ended before the cell ran (job logs: {Path(runs_dir) / '_submitit' / stage})"
        raise UsageError(f"rehearse: {len(unfinished)} rehearsal cell(s) did not finish, e.g. {stage} {cell_id}: {why}")
    cells_wall = sum(store.record(s, c.id)["wall_s"] for s, cs in cells.items() for c in cs)
    meta = {"executor": executor, "rehearsal_wall_s": round(time.perf_counter() - t0, 1),
            "cells_wall_s": round(cells_wall, 1),
            "outcome": {s: dict(c) for s, c in outcome.items()}, "gpu": dataclasses.asdict(gpu), "probes": {},
            "stack_runs": stack_runs, "costs": []}
    real_cells = expand(grid)
    from benchmark.study.estimate import prior_seconds

    meta["cells"] = sum(map(len, real_cells.values()))
    meta["dry_run_gpu_h"] = sum(prior_seconds(s, c.config) for s, cs in real_cells.items() for c in cs) / 3600
    rows = []
    for real_task, stand_in in zip(grid.tasks, rgrid.tasks):
        task = load_task(stand_in.name, stand_in.params)
        width = max([ARCHITECTURES[m].hidden for m in _method_models(grid) if m in ARCHITECTURES] or [384])
        largest = int(task.splits.train.class_counts(task.num_classes).max())
        k = max([getattr(real_method_config(m, task.name), "coreset_size", 0) for m in grid.methods] + [max(grid.dpcs)])
        probe = fresh_process(selection_probe, width, largest, k, max(grid.dpcs))
        meta["probes"][task.name] = {key: v for key, v in probe.items() if not key.endswith("per_flop")}
        scale = projections.TaskScale(task, gpu, probe["kmeans_s_per_flop"], probe["kmeans_init_s_per_flop"],
                                      probe["herding_s_per_flop"])
        rows += _task_rows(real_task, stand_in, grid, real_cells, {**cells, "distill": every_distill},
                           distill_twins(every_distill), store, scale, probe, check_profile, stack_runs, meta["costs"])
    meta["not_modelled"] = sorted({r.unmodelled for r in rows if r.unmodelled})
    meta["unstacked"] = _unstacked(grid) if stack_runs > 1 else []
    return rows, meta


def _unstacked(grid: Grid) -> list[str]:
    """The grid's stackable learners whose architecture ``learners/stacked.py`` cannot pack, and why."""
    from benchmark.learners import LEARNERS, stacked

    notes = []
    for learner in grid.learners:
        model = LEARNERS.create(learner.name, **learner.kwargs).get_params().get("model")
        family = ARCHITECTURES[model].family if model in ARCHITECTURES else None
        if LEARNERS.get(learner.name).stackable and family and family not in stacked.ARCHITECTURES:
            why = (" (its relative positional attention is computed from the sequence length, so positions cannot "
                   "restart per packed sentence)" if family == "xlnet" else "")
            notes.append(f"{learner.name} trains its runs one at a time, padded: `learners/stacked.py` packs "
                         f"{', '.join(stacked.ARCHITECTURES)} only, not {family}{why}")
    return notes


def _method_models(grid: Grid) -> set[str]:
    """The models the grid's methods embed or generate with (their widths are the selection probe's)."""
    from methods import METHODS

    return {_value(real_method_config(m, grid.tasks[0].name), p) for m in grid.methods
            for p in METHODS.get(m.name).MODEL_PARAMS}


def _kind(cell) -> tuple:
    fit = cell.fit_cell
    if cell.stage == "fit":
        return ("fit", fit.method, None, None)
    dpc = cell.dpc if cell.stage == "distill" else cell.distill.dpc
    return (cell.stage, fit.method, getattr(cell, "learner", None), dpc)


def _task_rows(real_task: Component, stand_in: Component, grid: Grid, real_cells: dict, rehearsed: dict,
               twins: dict, store, scale, probe, profile, stack_runs: int, estimates: list) -> list[Row]:
    """A row per rehearsal cell of this task: its measurements (a twin's: those of the cell it is the twin of), and
    the projection of the real cells it stands for (fit and distill: the same method; evaluate: the same learner on
    the same kind of set, every DPC); each real kind's seconds per cell appended to ``estimates``."""
    from methods import METHODS

    kind_of = lambda component: METHODS.get(component.name).kind  # noqa: E731
    counts = Counter(_kind(c) for cs in real_cells.values() for c in cs if c.fit_cell.task == real_task)
    real_method = {m.name: m for m in grid.methods}
    real_learner = {learner.name: learner for learner in grid.learners}
    rows = []
    for stage, stage_cells in rehearsed.items():
        for cell in (c for c in stage_cells if c.fit_cell.task == stand_in):
            method = real_method[cell.fit_cell.method.name]
            if stage == "evaluate":
                learner = real_learner[cell.learner.name]
                kinds = [k for k in counts if k[0] == stage and k[2] == learner and kind_of(k[1]) == kind_of(method)]
                sets = "text" if kind_of(method) == "text" else method.name
                label = f"evaluate {learner.name} on {sets} sets"
            else:
                kinds = [k for k in counts if k[0] == stage and k[1] == method]
                label = f"{stage} {method.name}"
                if cell.id in twins:
                    label += f" (measured as {twins[cell.id].fit_cell.method.name}: same shapes)"
            projected = {k: project_cell(k, scale, grid, stack_runs) for k in kinds}
            modelled = {k: c for k, c in projected.items() if c is not None}
            estimates += [{"stage": k[0], "task": real_task.name, "method": k[1].name,
                           "learner": k[2].name if k[2] else None, "dpc": k[3], "cells": counts[k],
                           "seconds": round(c.gpu_s + c.cpu_s, 3)}
                          for k, c in modelled.items()]
            largest = max(modelled.values(), key=lambda c: c.gpu_s + c.cpu_s, default=costs.Cost())
            gpu_h = sum(c.gpu_s * counts[k] for k, c in modelled.items()) / 3600
            cpu_h = sum(c.cpu_s * counts[k] for k, c in modelled.items()) / 3600
            record = store.record(stage, twins.get(cell.id, cell).id)
            steps = _rehearsed_steps(cell)
            rss = record["memory"]["peak_rss_mib"]
            row = Row(scale.task.name, label, sum(counts[k] for k in kinds), rss, record["wall_s"],
                      record["wall_s"] / steps if steps else None, largest, gpu_h, cpu_h,
                      _host_gib(rss, cell, scale, largest.width))
            if len(modelled) < len(projected):
                row.unmodelled = method.name
                row.stage += f" (not modelled: {method.name} has no cost_model)"
            if stage == "evaluate" and any(c.runs_per_task > 1 for c in modelled.values()):
                widths = {}  # per DPC, ascending: the narrowest stack of its sets
                for k in sorted(modelled, key=lambda k: k[3] or 0):
                    widths[k[3]] = min(widths.get(k[3], modelled[k].width), modelled[k].width)
                row.stack = "/".join(map(str, widths.values()))
            requeues, too_many = _requeues(modelled, stage, real_method_config(method, scale.task.name), profile)
            row.requeues = requeues
            row.check = _check(row, stage, scale.gpu, profile, METHODS.get(method.name).cost_model, too_many)
            rows.append(row)
    rows.append(_probe_row(scale, probe))
    return rows


def _rehearsed_steps(cell) -> int | None:
    params = dict(cell.fit_cell.method.params)
    if cell.stage == "evaluate":
        return dict(cell.learner.params).get("steps")
    if cell.stage == "fit" and "lm_steps" in params:
        return params["lm_steps"] + params.get("outer_loops", 0) * params.get("inner_loops", 0)
    if cell.stage == "distill" and "outer_steps" in params:
        return params["outer_steps"]
    return None


def _host_gib(rss_mib: float, cell, scale, width: int = 1) -> float:
    """Host memory of the real cell: what the rehearsal used, plus the real models' weights beyond the tiny ones
    (a load copy and a checkpoint copy on the host; a stack loads each of its ``width`` copies and then stacks them:
    2 x width x the model), plus embeddings at the real width beyond the tiny width."""
    from benchmark.learners import LEARNERS
    from methods import METHODS

    method = cell.fit_cell.method
    models = [(v, 1) for k, v in method.params if k in METHODS.get(method.name).MODEL_PARAMS]
    if cell.stage == "evaluate":
        models += [(v, width) for k, v in cell.learner.params if k in LEARNERS.get(cell.learner.name).MODEL_PARAMS]
    extra = 0.0
    for path, copies in models:
        stands_for = _stands_for(path)
        if stands_for:
            arch = ARCHITECTURES[stands_for]
            extra += 2 * copies * 4 * arch.params
            if cell.stage == "fit":
                extra += scale.n_train * (arch.hidden - TINY["hidden"]) * 4
    return rss_mib / 1024 + extra / costs.GIB


def _stands_for(path: str) -> str | None:
    marker = Path(str(path)) / "rehearsal.json"
    return json.loads(marker.read_text())["stands_for"] if marker.is_file() else None


def _check(row: Row, stage: str, gpu: costs.GPU, profile, model, too_many: str) -> str:
    problems = []
    if row.cost.gpu_bytes / costs.GIB > gpu.memory_gib:
        advice = (model.advice if model is not None and stage != "evaluate"
                  else "lower the learner's batch_size or max_length")
        problems.append(f"GPU memory {row.cost.gpu_bytes / costs.GIB:.0f} GiB > {gpu.memory_gib} GiB of the {gpu.name}"
                        f" ({advice})")
    limit = profile_mem_gib(profile, stage) if profile is not None else None
    if limit is not None and row.host_gib is not None and row.host_gib > limit:
        problems.append(f"host memory {row.host_gib:.1f} GiB > the profile's mem {limit:.0f} GiB for stage {stage} "
                        f"(raise stages.{stage}.mem in the Slurm profile)")
    if too_many:
        problems.append(too_many)
    return "; ".join(problems) or "ok"


def profile_time_s(profile, stage: str) -> float | None:
    """A stage's Slurm time limit in seconds, from Slurm's forms: minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]."""
    value = profile.for_stage(stage).get("time")
    if value is None:
        return None
    days, dash, clock = str(value).strip().rpartition("-")
    parts = [float(x) for x in clock.split(":")]
    if dash:
        hours, minutes, seconds = parts + [0.0] * (3 - len(parts))
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours, minutes, seconds = 0.0, parts[0], parts[1] if len(parts) == 2 else 0.0
    return float(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds


def requeues_needed(task_s: float, limit_s: float, checkpoint_s: float | None) -> float:
    """Requeues a Slurm array task of ``task_s`` seconds needs at a time limit of ``limit_s``: each requeue resumes
    from the last wall-time checkpoint, losing at most ``checkpoint_s``; without checkpoints (None) a task that does
    not fit never finishes (infinite)."""
    if task_s <= limit_s:
        return 0
    if checkpoint_s is None or checkpoint_s >= limit_s:
        return float("inf")
    return math.ceil((task_s - checkpoint_s) / (limit_s - checkpoint_s)) - 1


def _requeues(projected: dict, stage: str, config, profile) -> tuple[str, str]:
    """(the requeues its longest array task needs, e.g. "2 of 3"; the failure when more than the profile allows)."""
    from benchmark.learners.checkpoints import MINUTES

    limit = profile_time_s(profile, stage) if profile is not None else None
    if limit is None or not projected:
        return "", ""
    task_s = max((c.gpu_s + c.cpu_s) * c.runs_per_task for c in projected.values())
    minutes = MINUTES if stage == "evaluate" else projections.config_field(config, "checkpoint_minutes")
    needed = requeues_needed(task_s, limit, None if minutes is None else 60 * minutes)
    allowed = profile.max_requeues
    if needed == float("inf"):
        shown, why = "never finishes (no checkpoints)", "keeps no checkpoints, so a requeue starts it over"
    else:
        shown, why = f"{needed} of {allowed}", f"needs {needed} requeues, more than max_requeues {allowed}"
    if needed <= allowed:
        return shown, ""
    return shown, (f"time: its longest array task is projected at {task_s / 3600:.1f} h against the profile's "
                   f"{limit / 3600:.1f} h and {why} (raise stages.{stage}.time or max_requeues in the Slurm profile)")


def _probe_row(scale, probe: dict) -> Row:
    k_cost = scale.kmeans(probe["rows"], probe["kmeans_k"], probe["width"])
    label = (f"selection at real width: k-means k={probe['kmeans_k']} and herding k={probe['herding_k']} on "
             f"{probe['rows']:,} x {probe['width']} (one class)")
    peak = max(probe["kmeans_peak_rss_mib"], probe["herding_peak_rss_mib"])
    return Row(scale.task.name, label, 0, peak, probe["kmeans_init_s"] + 3 * probe["kmeans_iteration_s"]
               + probe["herding_s"], probe["kmeans_iteration_s"], k_cost, 0.0, 0.0, peak / 1024)


COLUMNS = ("task", "stage", "cells in grid", "peak RSS here (MiB)", "wall here (s)", "s/step here",
           "GPU memory (GiB)", "host memory (GiB)", "largest tensor", "runs per stack", "GPU h per cell",
           "node CPU h per cell", "GPU h, all cells", "node CPU h, all cells", "requeues", "check")


def row_values(row: Row) -> list:
    cost = row.cost
    largest = f"{cost.largest[0] / costs.GIB:.2f} GiB {cost.largest[1]}" if cost.largest[0] else ""
    return [row.task, row.stage, row.cells, round(row.peak_rss_mib or 0), round(row.wall_s or 0, 1),
            "" if row.s_per_step is None else float(f"{row.s_per_step:.3g}"), round(cost.gpu_bytes / costs.GIB, 1),
            "" if row.host_gib is None else round(row.host_gib, 1), largest, row.stack, _figures(cost.gpu_s / 3600),
            _figures(cost.cpu_s / 3600), round(row.all_gpu_h, 1), round(row.all_cpu_h, 1), row.requeues, row.check]


def _figures(hours: float) -> float:
    """Three significant figures (a stacked run's share is a few seconds: 0.000 h at three decimals)."""
    return float(f"{hours:.3g}")


def write_rehearsal(rows: list[Row], meta: dict, out_dir: Path) -> str:
    """rehearsal.md (the table, totals, assumptions), rehearsal.csv and rehearsal.json (measurements, probes)."""
    import pandas as pd

    from benchmark.core.files import atomic_write_text

    frame = pd.DataFrame([row_values(r) for r in rows], columns=COLUMNS)
    gpu_h, cpu_h = frame["GPU h, all cells"].sum(), frame["node CPU h, all cells"].sum()
    failing = [f"{r.task} {r.stage}: {r.check}" for r in rows if r.failed]
    gpu = meta["gpu"]["name"]
    lines = [f"# Rehearsal of grid {meta['grid']!r} at its real data scale", "",
             f"Command: `{meta['command']}` (code {meta.get('code', 'unknown')}). Executor: {meta['executor']}; "
             f"the rehearsal cells' own wall times sum to {meta.get('cells_wall_s', 0):.0f} s on this machine "
             f"({meta['host']}; this invocation ran cells for {meta['rehearsal_wall_s']:.0f} s, reusing those "
             "already done). Projection for the real models on one "
             f"{gpu} per job.", "",
             frame.to_markdown(index=False), "",
             f"**Projected total: {gpu_h:,.0f} GPU-hours ({gpu}) + {cpu_h:,.1f} node CPU-hours** for "
             f"{meta['cells']:,} cells (evaluation on the path of `run --stack-runs {meta['stack_runs']}`); "
             f"`run --grid {meta['grid']} --dry-run` reads this rehearsal's per-cell costs (`rehearsal.json`) when it "
             f"is committed as `results/{meta['grid']}-rehearsal/`, else estimates {meta['dry_run_gpu_h']:,.0f} "
             "GPU-hours from `cost_priors.yaml`.", ""]
    lines += ["Checks: " + ("every stage fits its GPU, and the memory and time (with the requeues shown, at most "
                            f"`max_requeues`) of its Slurm profile ({meta['check_profile']})."
                            if not failing else "FAILED: " + "; ".join(failing)), ""]
    if meta.get("not_modelled"):
        lines += ["Not modelled (no `cost_model` on their method classes: their fit and distill cells count as "
                  "nothing in the totals): " + ", ".join(meta["not_modelled"]) + ".", ""]
    lines += [f"Not stacked: {note}." for note in meta.get("unstacked", [])] + ([""] if meta.get("unstacked") else [])
    if meta["executor"] == "local":
        lines += ["Local executor: the cells share one process, so a cell's peak RSS includes what the process already "
                  "held (task splits and models cached by earlier cells, several GiB after the fits); the Slurm "
                  "executor measures each cell in a process of its own. The selection probe runs in a fresh process.",
                  ""]
    lines += ["Measured here: peak RSS, wall time and seconds per step of the rehearsal cells (tiny models, "
              f"{TINY['layers']} layers x {TINY['hidden']} wide, with the real vocabularies; real data sizes and lengths; "
              "real batch sizes), and the selection probe at the real width. The GPT-2 stand-in's samples end after "
              f"{SAMPLE_TOKENS} tokens on average (a random-init LM never ends them; a trained one does). Projected: "
              "everything else, by this model:", ""]
    lines += ["> " + line if line else ">" for line in costs.__doc__.strip().splitlines()]
    markdown = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "rehearsal.md", markdown)
    atomic_write_text(out_dir / "rehearsal.csv", frame.to_csv(index=False))
    atomic_write_text(out_dir / "rehearsal.json", json.dumps(meta, indent=2, default=str) + "\n")
    return markdown
