"""The harness as Python calls: open a grid, plan, run, check status, judge, report, rehearse, list, export.

The command line (``benchmark/cli.py``) parses arguments, calls these and prints what they return; a notebook or
script calls them the same way. This is the top layer: it joins the study machinery (``benchmark.study``) to the
report (``benchmark.report``), which never import each other. Lazy imports, first thing in the functions that need
them, so that ``python -m benchmark --help`` and ``list`` start in under a second: the report, the judge, the
executors and the rehearsal (pandas, numpy, scikit-learn, submitit) and the registries (entry points; their cards
import numpy). All at the top, ``--help`` took 2.8 s instead of 1.3 s on a loaded 2-core machine.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmark.core import cache as user_cache
from benchmark.core.errors import UsageError
from benchmark.core.files import atomic_write_text
from benchmark.core.labels import component_label
from benchmark.study.cells import expand, pair_status
from benchmark.study.describe import describe_method, projections
from benchmark.study.estimate import (Estimate, committed_rehearsal, estimate_seconds, finished_times, prior_gpu,
                                      uses_gpu)
from benchmark.study.export import export_sets
from benchmark.study.grid import OVERRIDE_KEYS, Grid, load_grid, preset_names  # noqa: F401 (OVERRIDE_KEYS: the CLI's)
from benchmark.study.store import Store

STAGES = ("fit", "distill", "evaluate")


def existing_folder(path: Path, flag: str) -> None:
    """UsageError when ``path`` exists and is not a folder (a runs folder or report folder given as a file)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: a file, not a folder; pass a folder (it is made when missing)")


def writable_folder(path: Path, flag: str) -> None:
    """UsageError, before anything runs, when ``path`` is a file or a folder this process cannot write (or make)."""
    import os
    import tempfile

    existing_folder(path, flag)
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.close((probe := tempfile.mkstemp(dir=path, prefix=".write-probe."))[0])
        os.unlink(probe[1])
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there ({exc.strerror or exc}); pass a writable folder or "
                         f"give yourself write permission") from None


def open_grid(name_or_path: str, sets: list[str] = (), overrides: dict | None = None,
              load_data: bool = True, name: str | None = None, reference: bool = True) -> Grid:
    """A preset or grid file with its ``--set`` assignments and named overrides, parsed and checked against the
    registries (and, with ``load_data``, the datasets' class sizes): every error is a UsageError, before anything
    is written. ``name``: the study's name (its folder and title) as given; ``reference=False`` drops the
    reference rows (Full, Random) that overriding the methods keeps."""
    from benchmark.study.checks import check_grid  # the registries: see the module's docstring

    return check_grid(load_grid(name_or_path, sets, overrides, name, reference), load_data=load_data)


def expected_cells(grid: Grid):
    """Every (task, learner, method, DPC) the grid asks for, marked "n/a" where the pair cannot run (the report's
    holes and n/a cells come from this), the fits asked of each seeded method (its cells are tested per fit) and the
    grid's named baseline."""
    from benchmark.report.statistics import Expected  # pandas, and the registries: see the module's docstring
    from benchmark.tasks import TASKS
    from methods import METHODS

    expected = Expected(learner_dpcs={component_label(learner.name, learner.kwargs): list(dpcs)
                                      for learner, dpcs in grid.learner_dpcs.items()})
    if grid.baseline:
        expected.baseline = describe_method(*next((m.name, m.kwargs) for m in grid.methods
                                                  if m.name == grid.baseline))["label"]
    for task in grid.tasks:
        task_name = TASKS.create(task.name, **task.kwargs).record_name  # a custom task's name is in its spec
        for method in grid.methods:
            described = describe_method(method.name, method.kwargs)
            if METHODS.get(method.name).seeded_fit:
                expected.fits[(task_name, described["label"])] = grid.n_fits
            for learner in grid.learners:
                status = {"run": "expected", "n/a": "n/a"}.get(pair_status(method, learner))
                if status is None:  # a zero-shot row under a learner that trains: not shown
                    continue
                for dpc in grid.dpcs_of(learner):
                    expected.cells[(task_name, component_label(learner.name, learner.kwargs), described["label"],
                                    dpc)] = "reference" if described["reference"] and status != "n/a" else status
    return expected


@dataclass
class StagePlan:
    """One stage of a dry run: its cells, those still to run, and the time they are expected to take."""
    stage: str
    cells: int
    pending: list[str]
    seconds: float  # from finished cells of the same kind
    known: int  # pending cells with a finished counterpart
    prior_seconds: float  # prior guesses (benchmark/study/cost_priors.yaml) for the others
    scaled: int  # of the known, those estimated from another DPC
    rehearsed_seconds: float = 0.0  # from the grid's committed rehearsal (``rehearsal``)
    rehearsed: int = 0  # pending cells estimated from it
    rehearsal: str | None = None  # the rehearsal file read and the GPU it ran on, if the grid has one
    on_gpu: Estimate = Estimate(0.0, 0, 0.0, 0)  # the part of the estimate above for pending cells that use a GPU
    on_cpu: Estimate = Estimate(0.0, 0, 0.0, 0)  # and for those that do not (their learner's or method's ``uses_gpu``)
    gpu_cells: int = 0  # pending cells that use a GPU
    prior_gpu: str = ""  # the GPU the prior guesses assume (cost_priors.yaml: gpu)


def plan(grid: Grid, runs_dir: Path) -> list[StagePlan]:
    """What ``run_grid`` would run, per stage, with a time estimate (finished cells of the same kind, else the grid's
    committed rehearsal, else the priors); reads the runs folder, writes nothing."""
    existing_folder(runs_dir, "--runs-dir")
    store, out, rehearsal = Store(runs_dir), [], committed_rehearsal(grid.name)
    for stage, stage_cells in expand(grid).items():
        pending = [c for c in stage_cells if not store.is_done(stage, c.id)]
        seen, on_gpu = finished_times(store, stage), {c.id: uses_gpu(stage, c.config) for c in pending}
        gpu, cpu = (estimate_seconds(store, stage, [c for c in pending if on_gpu[c.id] == device], rehearsal, seen)
                    for device in (True, False))
        out.append(StagePlan(stage, len(stage_cells), [c.id for c in pending], *(a + b for a, b in zip(gpu, cpu)),
                             rehearsal=rehearsal and f"{rehearsal.source} ({rehearsal.gpu})", on_gpu=gpu, on_cpu=cpu,
                             gpu_cells=sum(on_gpu.values()), prior_gpu=prior_gpu()))
    return out


@dataclass
class Failure:
    stage: str
    cell_id: str
    error: str  # the first line of the error
    log: Path


@dataclass
class StageStatus:
    stage: str
    counts: dict[str, int]  # done / running / failed / pending
    failures: list[Failure] = field(default_factory=list)


def finished_here(runs_dir: Path) -> int:
    """How many cells this process has finished in the runs folder (its journal's ``done`` lines with this pid)."""
    import json
    import os

    from benchmark.study.store import JOURNAL

    path = Path(runs_dir) / JOURNAL
    if not path.is_file():
        return 0
    count = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a crash: not ours to count
            continue
        count += isinstance(entry, dict) and entry.get("event") == "done" and entry.get("pid") == os.getpid()
    return count


def status(grid: Grid, runs_dir: Path) -> list[StageStatus]:
    """Each stage's cells of ``grid`` in the runs folder: done, running, failed (with the error) or pending."""
    existing_folder(runs_dir, "--runs-dir")
    store = Store(runs_dir)
    return [_stage_status(store, stage, stage_cells) for stage, stage_cells in expand(grid).items()]


@dataclass
class GridStatus:
    """One grid run into a runs folder (from the plan ``run`` recorded there) and its cells per stage."""

    name: str
    source: str
    stages: list[StageStatus]


@dataclass
class _PlannedCell:
    """A cell as a recorded plan names it: its stage, id and parent (enough to tell failed from waiting)."""

    stage: str
    id: str
    parent: "_PlannedCell | None" = None


def folder_status(runs_dir: Path) -> tuple[list[GridStatus], list[StageStatus]]:
    """What a runs folder holds, without the grids' flags: each grid run into it (from the plan ``run_grid``
    records there) with its cells per stage, and the cells of no recorded grid (a folder filled before plans were
    recorded, or a grid whose plan was replaced), counted per stage: done, running, failed or unfinished."""
    if not Path(runs_dir).is_dir():
        raise UsageError(f"no runs folder {runs_dir}; pass the folder a `run` wrote its records to (default: runs)")
    store, grids, planned = Store(runs_dir), [], {stage: set() for stage in STAGES}
    for plan in store.plans():
        stages = []
        for stage in STAGES:
            parents = PARENT_STAGE.get(stage)
            cells = [_PlannedCell(stage, cell_id, parent and _PlannedCell(parents, parent))
                     for cell_id, parent in plan.get("cells", {}).get(stage, {}).items()]
            planned[stage].update(c.id for c in cells)
            stages.append(_stage_status(store, stage, cells))
        grids.append(GridStatus(plan.get("name", "?"), plan.get("source", "?"), stages))
    others = []
    for stage in STAGES:
        row = StageStatus(stage, {"done": 0, "running": 0, "failed": 0, "unfinished": 0})
        for cell_id in store.cell_ids(stage):
            if cell_id in planned[stage]:
                continue
            state = ("done" if store.is_done(stage, cell_id) else "running" if store.is_running(stage, cell_id)
                     else "failed" if store.is_failed(stage, cell_id) else "unfinished")
            row.counts[state] += 1
            if state == "failed":
                row.failures.append(_failure(store, stage, cell_id))
        others.append(row)
    return grids, others if any(sum(row.counts.values()) for row in others) else []


PARENT_STAGE = {"distill": "fit", "evaluate": "distill"}


def _stage_status(store, stage: str, cells) -> StageStatus:
    row = StageStatus(stage, {"done": 0, "running": 0, "failed": 0, "pending": 0})
    for cell in cells:
        state = ("done" if store.is_done(stage, cell.id) else "running" if store.is_running(stage, cell.id)
                 else "failed" if _failed(store, cell) else "pending")
        row.counts[state] += 1
        if state == "failed":
            row.failures.append(_failure(store, stage, cell.id))
    return row


SMALL_TEST_SPLIT = 100  # fewer test rows than this and one row moves accuracy by more than a point


def small_test_splits(grid: Grid) -> list[str]:
    """A warning for each task of ``grid`` scored on fewer than ``SMALL_TEST_SPLIT`` rows (a 200-row file leaves a
    20-row test split: accuracy in steps of 5 points), saying how to score on more."""
    from benchmark.tasks import load_task

    lines = []
    for component in grid.tasks:
        task = load_task(component.name, component.params)
        rows = len(task.splits.test.labels)
        if rows < SMALL_TEST_SPLIT:
            how = ("give your data's own test file with `test_path:` in its spec" if component.name == "custom"
                   else "pass a larger test_fraction in the task's params")
            lines.append(f"warning: task {task.record_name!r} is scored on {rows} test rows: accuracy moves in steps "
                         f"of 1/{rows} ({100 / rows:.1f} points); for a test split of {SMALL_TEST_SPLIT} rows or more, "
                         f"{how} (docs/your-data.md#splits)")
    return lines


def record_plan(store, grid: Grid, cells: dict) -> None:
    """The grid's cells (with their parents) kept in the runs folder, so that ``status RUNS`` can count them."""
    store.record_plan(grid.name, {
        "name": grid.name, "source": grid.source, "description": grid.description,
        "cells": {stage: {c.id: c.parent.id if c.parent is not None else None for c in stage_cells}
                  for stage, stage_cells in cells.items()}})


def _failed(store, cell) -> bool:
    """Failed, not merely below a parent that is not done (such a cell waits; an error it holds is of an older run)."""
    return store.is_failed(cell.stage, cell.id) and store.parent_done(cell)


def _failure(store, stage: str, cell_id: str) -> Failure:
    return Failure(stage, cell_id, store.error(stage, cell_id)["error"].splitlines()[0],
                   store.cell_dir(stage, cell_id) / "log.txt")


@dataclass
class StudyRun:
    """What ``run_grid`` did: the outcome per stage, its wall time, where the leaderboard went and its text, and
    the cells that failed."""
    grid: Grid
    outcome: dict
    seconds: float
    out_dir: Path
    markdown: str
    failures: list[Failure]


def run_grid(grid: Grid, runs_dir: Path, out: Path | None = None, executor: str | None = None,
             slurm_profile: str | None = None, force: bool = False, progress: bool = True, stack: int = 16,
             echo: Callable[[str], None] = print, warn: Callable[[str], None] = print, html: bool = True) -> StudyRun:
    """Run every cell of a checked ``grid`` that is not done (``force``: discard this grid's finished cells first),
    on ``executor`` (default: the grid's), then judge its text sets and write its leaderboard to the folder
    ``out`` (default: ``runs_dir/leaderboards/<grid name>``; with ``html``, its static site too). ``echo`` and
    ``warn`` receive the progress lines."""
    from benchmark.report.output import write_report
    from benchmark.study.executors import EXECUTORS
    from benchmark.study.fidelity import VERSION, judge_runs

    out_dir = Path(out) if out is not None else Path(runs_dir) / "leaderboards" / grid.name
    executor = executor or grid.executor
    options = {}
    if executor == "slurm":
        from benchmark.study.estimate import committed_rehearsal
        from benchmark.study.executors.slurm import load_profile

        options["profile"] = load_profile(slurm_profile or grid.slurm_profile)
        options["rehearsal"] = committed_rehearsal(grid.name)  # what array tasks are bundled by
    for folder, flag in ((runs_dir, "--runs-dir"), (out, "--out")):  # neither a file: checked before either is made
        if folder is not None:
            existing_folder(folder, flag)
    writable_folder(runs_dir, "--runs-dir")
    if out is not None:
        writable_folder(out, "--out")
    check_out_folder(out_dir, grid.name)
    cells, store = expand(grid), Store(runs_dir)
    if force:
        held = [cell.id for stage, stage_cells in cells.items() for cell in stage_cells
                if not store.discard(stage, cell.id)]
        if held:
            warn(f"warning: --force left {len(held)} cell(s) that another runner is running as they are (e.g. "
                 f"{held[0]}); run --force again once it is done to redo them")
    for stage, stage_cells in cells.items():
        for path in store.set_aside_damaged(stage, [c.id for c in stage_cells]):
            warn(f"warning: {stage} cell {path.name.removesuffix('.record.json')} had a damaged record.json (not whole "
                 f"JSON, or without its keys); moved to {path}, and the cell runs again")
    record_plan(store, grid, cells)
    for line in small_test_splits(grid):
        warn(line)
    pending = {s: sum(not store.is_done(s, c.id) for c in cs) for s, cs in cells.items()}
    echo(f"grid {grid.name!r} ({grid.source}): " + ", ".join(
        f"{stage} {len(cs)} cells ({pending[stage]} to run)" for stage, cs in cells.items()))
    t0 = time.perf_counter()
    outcome = EXECUTORS[executor](cells, store, progress=progress, stack=stack, **options)
    seconds = time.perf_counter() - t0
    judge_runs(runs_dir, {c.id for c in cells["distill"]}, progress=progress, warn=warn)
    cell_ids = {c.id for stage_cells in cells.values() for c in stage_cells}
    markdown = write_report(runs_dir, out_dir, cell_ids, grid.dpcs, expected_cells(grid), html=html,
                            projections=projections() if html else None, judge_version=VERSION)
    failures = [_failure(store, s, c.id) for s, cs in cells.items() for c in cs if _failed(store, c)]
    return StudyRun(grid, outcome, seconds, out_dir, markdown, failures)


def report(runs_dir: Path, out: Path | None = None, html: bool = True, texts: bool = True,
           carry: list[Path] = ()) -> str:
    """Write the leaderboard of every finished run in a runs folder, and of the runs carried from the report folders
    in ``carry`` (their ``runs.csv``), to the folder ``out`` (default: ``runs_dir/leaderboards/all``; with
    ``html``, the static site ``out/index.html``); its markdown."""
    from benchmark.report.carried import with_carried
    from benchmark.report.output import write_report
    from benchmark.report.records import load_records
    from benchmark.report.statistics import expected_from_records
    from benchmark.study.fidelity import VERSION

    carry = [Path(c) for c in carry]
    out = Path(out) if out is not None else Path(runs_dir) / "leaderboards" / "all"
    existing_folder(out, "--out")
    check_out_folder(out, "all")
    if not (runs_dir / "evaluate").is_dir() and not carry:
        raise UsageError(f"{runs_dir} holds no evaluate records; run `python -m benchmark run` first "
                         f"or pass the runs folder of a run")
    records = with_carried(load_records(runs_dir), carry)  # a wrong --carry fails here, before anything is written
    return write_report(runs_dir, out, expected=expected_from_records(records), html=html, texts=texts,
                        projections=projections() if html else None, judge_version=VERSION, carry=carry)


def check_out_folder(out: Path, name: str) -> None:
    """UsageError when ``out`` holds other studies' leaderboards: ``--out`` is the study's own folder (``run`` and
    ``report`` alike), and ``--out results`` (once: the parent of the studies' folders) would write into it."""
    studies = sorted(p.name for p in Path(out).glob("*/leaderboard.md"))[:3] if Path(out).is_dir() else []
    if studies:
        raise UsageError(f"--out {out} holds other studies' leaderboards ({', '.join(studies)}, ...); --out names the "
                         f"study's own folder: pass --out {Path(out) / name}")


@dataclass
class Judgement:
    """The fidelity of a runs folder's text sets: per set (``sets``) and per (task, method, DPC) (``summary``);
    with ``clean_against``, every run re-scored on the test rows that method's sets do not overlap."""
    measured: int  # sets measured now (the others were measured before)
    judge_accuracy: float  # the judge's accuracy on the validation split
    sets: object  # pandas.DataFrame
    summary: object
    clean: object | None = None
    removed: int = 0
    kept: int = 0


def judge(runs_dir: Path, out: Path | None = None, clean_against: str | None = None, progress: bool = True,
          carry: list[Path] = (), warn: Callable[[str], None] | None = None) -> Judgement:
    """Measure every finished text set of a runs folder (on-label share by a judge trained on the train split,
    overlap with the test split, diversity); write ``fidelity.csv`` (and ``clean-test.csv``) to ``out``, with the
    rows of the report folders in ``carry`` for sets and cells this folder does not hold."""
    from benchmark.report.carried import carried_clean_scores, carried_fidelity, runs_file
    from benchmark.report.clean import clean_test_summary, overlapped_test_rows
    from benchmark.report.records import load_fidelity
    from benchmark.study.fidelity import judge_runs
    from benchmark.study.rescoring import rescore_without

    carry = [Path(c) for c in carry]
    for source in carry:
        runs_file(source)  # a wrong --carry fails before anything is measured
    if not (runs_dir / "distill").is_dir():
        raise UsageError(f"{runs_dir} holds no distilled sets (no {runs_dir / 'distill'}); pass a runs folder")
    measured = judge_runs(runs_dir, progress=progress, warn=warn)
    sets = load_fidelity(runs_dir)
    if sets.empty:
        raise UsageError(f"{runs_dir} holds no finished text sets to measure")
    summary = sets.groupby(["task", "method", "dpc"], dropna=False).agg(
        sets=("set_seed", "size"), on_label_share=("on_label_share", "mean"), overlap_share=("overlap_share", "mean"),
        exact=("exact_test_duplicates", "sum"), near=("near_test_duplicates", "sum"),
        distinct_2=("distinct_2", "mean"), mean_pairwise_distance=("mean_pairwise_distance", "mean")).reset_index()
    result = Judgement(measured, float(sets["judge_validation_accuracy"].iloc[0]), sets, summary)
    if clean_against:
        removed = overlapped_test_rows(runs_dir, clean_against)
        rescored, n_test = rescore_without(runs_dir, removed)
        result.clean = clean_test_summary(runs_dir, rescored)
        result.removed, result.kept = len(removed), n_test - len(removed)
        result.clean = carried_clean_scores(result.clean.assign(test_rows_removed=result.removed), carry)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "fidelity.csv", carried_fidelity(sets, carry).round(4).to_csv(index=False))
        if result.clean is not None:
            atomic_write_text(out / "clean-test.csv", result.clean.round(3).to_csv(index=False))
    return result


def cache_usage() -> list[tuple[str, Path, int, int, str]]:
    """Each kind of the user cache, as the modules that build them declare it: (kind, folder, bytes, entries, what
    it holds)."""
    _declare_cache_kinds()
    return user_cache.cache_usage()


def clear_cache(kinds: list[str]) -> list[Path]:
    """Remove the user cache's folders of ``kinds`` (``all``: every kind); unknown kinds raise before anything is
    removed."""
    _declare_cache_kinds()
    return user_cache.clear_cache(kinds)


def _declare_cache_kinds() -> None:
    """Import what declares the cache kinds (``core.cache.cache_kind``): every registered method, the tasks'
    splits, the converted models and the rehearsal's stand-ins."""
    import benchmark.core.assembled  # noqa: F401
    import benchmark.study.rehearsal.standins  # noqa: F401  (numpy)
    import benchmark.tasks.base  # noqa: F401
    from methods import METHODS  # the registries: see the module's docstring

    METHODS.names()


def export(runs_dir: Path, out: Path, methods: list[str] | None = None, tasks: list[str] | None = None):
    """Write the finished text sets of a runs folder as JSON Lines and datasets.Dataset folders: (written paths,
    reasons for the sets left out)."""
    if not (runs_dir / "distill").is_dir():
        raise UsageError(f"{runs_dir} holds no distilled sets (no {runs_dir / 'distill'}); pass a runs folder")
    written, skipped = export_sets(runs_dir, out, methods, tasks)
    if not written:
        raise UsageError(f"no finished text set in {runs_dir} matches methods={methods} tasks={tasks}"
                         + (f" ({len(skipped)} left out: {'; '.join(skipped)})" if skipped else ""))
    return written, skipped


def rehearse(grid: Grid, runs_dir: Path, out: Path | None = None, gpu: str = "h200", executor: str = "local",
             slurm_profile: str = "local", check_profile: str | None = None, progress: bool = True,
             force: bool = False, command: str = "python -m benchmark rehearse", stack_runs: int = 16):
    """Run every stage of ``grid`` at its real data scale with tiny models, project the cost on real models and
    ``gpu`` (evaluation as ``run --stack-runs stack_runs`` runs it), check each stage's memory and time against
    ``check_profile``; write the table to the folder ``out`` (default: ``results/<grid>-rehearsal``).
    Returns (rows, the table's markdown); rows whose ``check`` is not "ok" failed."""

    from benchmark.core import provenance
    from benchmark.study.executors.slurm import load_profile
    from benchmark.study.rehearsal.costs import GPUS
    from benchmark.study.rehearsal.plan import run_rehearsal, write_rehearsal

    options = {"profile": load_profile(slurm_profile)} if executor == "slurm" else {}
    checked_against = load_profile(check_profile or grid.slurm_profile)
    rows, meta = run_rehearsal(grid, runs_dir / f"rehearsal-{grid.name}", executor, options, GPUS[gpu],
                               checked_against, progress=progress, force=force, stack_runs=stack_runs)
    meta.update(grid=grid.name, command=command, host=f"{platform.machine()}, {os.cpu_count()} CPUs",
                check_profile=checked_against.source, code=provenance.code_version())
    out = Path(out) if out is not None else Path("results") / f"{grid.name}-rehearsal"
    return rows, write_rehearsal(rows, meta, out)


def prefetch(grid: Grid, hf_home: Path | None = None, echo: Callable[[str], None] = print):
    """Fill the Hugging Face cache (``hf_home``, laid out as ``HF_HOME``; default: the environment's) with the grid's
    hub datasets and models, for compute nodes without internet: (datasets, models) fetched."""
    from benchmark.study.prefetch import prefetch as fill

    return fill(grid, hf_home, echo)


KINDS = ("tasks", "methods", "learners", "recipes", "grids")


def catalogue(kinds: set[str], details: bool = False) -> list[str]:
    """The lines of ``list``: the registered tasks, methods and learners (with ``details``: the method and learner
    cards, every hyper-parameter with its default and each preset's values), the learner families' recipes and the
    grid presets."""
    from benchmark.learners import LEARNERS  # the registries and their cards: see the module's docstring
    from benchmark.learners.base import learner_card_text
    from benchmark.learners.recipes import FAMILIES, family_defaults
    from benchmark.tasks import TASKS
    from methods import METHODS
    from methods.base import card_text

    lines = []
    cards = {"methods": card_text, "learners": learner_card_text} if details else {}
    for kind, registry in {"tasks": TASKS, "methods": METHODS, "learners": LEARNERS}.items():
        if kind not in kinds:
            continue
        lines.append(f"{kind}:")
        for name in registry.names():
            factory, source = registry.get(name), registry.source(name)
            origin = "" if source == "builtin" else f"  [{source}]"
            if kind in cards:
                lines.append("  " + cards[kind](name, factory).replace("\n", "\n  ") + origin)
                continue
            summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
            lines.append(f"  {name:<20} {summary}{origin}")
    if "recipes" in kinds:
        lines.append("recipes (per learner family; override in a grid with `recipes: {FAMILY: {PARAM: VALUE}}`):")
        for family, summary in FAMILIES.items():
            lines += [f"  {family:<20} {summary}", f"  {'':<20} defaults: {family_defaults(family)}"]
    if "grids" in kinds:
        lines.append("grids:")
        lines += [f"  {name:<20} {load_grid(name).description}" for name in preset_names()]
    return lines
