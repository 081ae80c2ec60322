"""The harness as Python calls: open a grid, plan, run, check status, judge, report, rehearse, list, export.

The command line (``benchmark/cli.py``) parses arguments, calls these and prints what they return; a notebook or
script calls them the same way. This is the top layer: it joins the study machinery (``benchmark.study``) to the
report (``benchmark.report``), which never import each other. Imports sit inside the functions so that
``python -m benchmark --help`` and ``list`` start without torch or pandas.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmark.core.errors import UsageError
from benchmark.study.grid import OVERRIDE_KEYS, Grid, load_grid

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
              load_data: bool = True) -> Grid:
    """A preset or grid file with its ``--set`` assignments and named overrides, parsed and checked against the
    registries (and, with ``load_data``, the datasets' class sizes): every error is a UsageError, before anything
    is written."""
    from benchmark.study.checks import check_grid

    return check_grid(load_grid(name_or_path, sets, overrides), load_data=load_data)


def expected_cells(grid: Grid):
    """Every (task, learner, method, DPC) the grid asks for, marked "n/a" where the pair cannot run (the report's
    holes and n/a cells come from this), and the fits asked of each seeded method (its cells are tested per fit)."""
    from benchmark.core.labels import component_label
    from benchmark.report.leaderboard import Expected
    from benchmark.study.cells import pair_status
    from benchmark.study.describe import describe_method
    from benchmark.tasks import TASKS
    from methods import METHODS

    expected = Expected(learner_dpcs={component_label(learner.name, learner.kwargs): list(dpcs)
                                      for learner, dpcs in grid.learner_dpcs.items()})
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


def plan(grid: Grid, runs_dir: Path) -> list[StagePlan]:
    """What ``run_grid`` would run, per stage, with a time estimate; reads the runs folder, writes nothing."""
    from benchmark.study.cells import expand
    from benchmark.study.estimate import estimate_seconds
    from benchmark.study.store import Store

    existing_folder(runs_dir, "--runs-dir")
    store, out = Store(runs_dir), []
    for stage, stage_cells in expand(grid).items():
        pending = [c for c in stage_cells if not store.is_done(stage, c.id)]
        estimate = estimate_seconds(store, stage, pending)
        out.append(StagePlan(stage, len(stage_cells), [c.id for c in pending], *estimate))
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
    from benchmark.study.cells import expand
    from benchmark.study.store import Store

    existing_folder(runs_dir, "--runs-dir")
    store, out = Store(runs_dir), []
    for stage, stage_cells in expand(grid).items():
        row = StageStatus(stage, {"done": 0, "running": 0, "failed": 0, "pending": 0})
        for cell in stage_cells:
            state = ("done" if store.is_done(stage, cell.id) else "running" if store.is_running(stage, cell.id)
                     else "failed" if _failed(store, cell) else "pending")
            row.counts[state] += 1
            if state == "failed":
                row.failures.append(_failure(store, stage, cell.id))
        out.append(row)
    return out


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
    on ``executor`` (default: the grid's), then judge its text sets and write its leaderboard to
    ``out/<grid name>`` (default: ``runs_dir/leaderboards``; with ``html``, its static site too). ``echo`` and
    ``warn`` receive the progress lines."""
    from benchmark.report.output import write_report
    from benchmark.study.cells import expand
    from benchmark.study.describe import projections
    from benchmark.study.executors import EXECUTORS
    from benchmark.study.fidelity import VERSION, judge_runs
    from benchmark.study.store import Store

    executor = executor or grid.executor
    options = {}
    if executor == "slurm":
        from benchmark.study.executors.slurm import load_profile

        options["profile"] = load_profile(slurm_profile or grid.slurm_profile)
    for folder, flag in ((runs_dir, "--runs-dir"), (out, "--out")):  # neither a file: checked before either is made
        if folder is not None:
            existing_folder(folder, flag)
    writable_folder(runs_dir, "--runs-dir")
    if out is not None:
        writable_folder(out, "--out")
    cells, store = expand(grid), Store(runs_dir)
    if force:
        held = [cell.id for stage, stage_cells in cells.items() for cell in stage_cells
                if not store.discard(stage, cell.id)]
        if held:
            warn(f"warning: --force left {len(held)} cell(s) that another runner is running as they are (e.g. "
                 f"{held[0]}); run --force again once it is done to redo them")
    for stage, stage_cells in cells.items():
        for path in store.set_aside_damaged(stage, [c.id for c in stage_cells]):
            warn(f"warning: {stage} cell {path.name.removesuffix('.record.json')} had a damaged record.json (not "
                 f"whole JSON); moved to {path}, and the cell runs again")
    pending = {s: sum(not store.is_done(s, c.id) for c in cs) for s, cs in cells.items()}
    echo(f"grid {grid.name!r} ({grid.source}): " + ", ".join(
        f"{stage} {len(cs)} cells ({pending[stage]} to run)" for stage, cs in cells.items()))
    t0 = time.perf_counter()
    outcome = EXECUTORS[executor](cells, store, progress=progress, stack=stack, **options)
    seconds = time.perf_counter() - t0
    judge_runs(runs_dir, {c.id for c in cells["distill"]}, progress=progress, warn=warn)
    out_dir = (out or runs_dir / "leaderboards") / grid.name
    cell_ids = {c.id for stage_cells in cells.values() for c in stage_cells}
    markdown = write_report(runs_dir, out_dir, cell_ids, grid.dpcs, expected_cells(grid), html=html,
                            projections=projections() if html else None, judge_version=VERSION)
    failures = [_failure(store, s, c.id) for s, cs in cells.items() for c in cs if _failed(store, c)]
    return StudyRun(grid, outcome, seconds, out_dir, markdown, failures)


def report(runs_dir: Path, out: Path, html: bool = False, texts: bool = True, carry: list[Path] = ()) -> str:
    """Write the leaderboard of every finished run in a runs folder, and of the runs carried from the report folders
    in ``carry`` (their ``runs.csv``), to ``out`` (with ``html``, the static site ``out/index.html``); its markdown."""
    from benchmark.report.carried import with_carried
    from benchmark.report.leaderboard import expected_from_records, load_records
    from benchmark.report.output import write_report
    from benchmark.study.describe import projections
    from benchmark.study.fidelity import VERSION

    carry = [Path(c) for c in carry]
    existing_folder(out, "--out")
    if not (runs_dir / "evaluate").is_dir() and not carry:
        raise UsageError(f"{runs_dir} holds no evaluate records; run `python -m benchmark run` first "
                         f"or pass the runs folder of a run")
    records = with_carried(load_records(runs_dir), carry)  # a wrong --carry fails here, before anything is written
    return write_report(runs_dir, out, expected=expected_from_records(records), html=html, texts=texts,
                        projections=projections() if html else None, judge_version=VERSION, carry=carry)


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
    from benchmark.report.clean import clean_test_scores
    from benchmark.report.leaderboard import load_fidelity
    from benchmark.study.fidelity import judge_runs
    from benchmark.study.store import atomic_write_text

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
        result.clean, result.removed, result.kept = clean_test_scores(runs_dir, clean_against)
        result.clean = carried_clean_scores(result.clean.assign(test_rows_removed=result.removed), carry)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "fidelity.csv", carried_fidelity(sets, carry).round(4).to_csv(index=False))
        if result.clean is not None:
            atomic_write_text(out / "clean-test.csv", result.clean.round(3).to_csv(index=False))
    return result


def export(runs_dir: Path, out: Path, methods: list[str] | None = None, tasks: list[str] | None = None):
    """Write the finished text sets of a runs folder as JSON Lines and datasets.Dataset folders: (written paths,
    reasons for the sets left out)."""
    from benchmark.study.export import export_sets

    if not (runs_dir / "distill").is_dir():
        raise UsageError(f"{runs_dir} holds no distilled sets (no {runs_dir / 'distill'}); pass a runs folder")
    written, skipped = export_sets(runs_dir, out, methods, tasks)
    if not written:
        raise UsageError(f"no finished text set in {runs_dir} matches methods={methods} tasks={tasks}"
                         + (f" ({len(skipped)} left out: {'; '.join(skipped)})" if skipped else ""))
    return written, skipped


def rehearse(grid: Grid, runs_dir: Path, out: Path, gpu: str = "h200", executor: str = "local",
             slurm_profile: str = "local", check_profile: str | None = None, progress: bool = True,
             force: bool = False, command: str = "python -m benchmark rehearse"):
    """Run every stage of ``grid`` at its real data scale with tiny models, project the cost on real models and
    ``gpu``, check each stage's memory against ``check_profile``; write the table to ``out/<grid>-rehearsal``.
    Returns (rows, the table's markdown); rows whose ``check`` is not "ok" failed."""
    import os
    import platform

    from benchmark.core import provenance
    from benchmark.study.executors.slurm import load_profile
    from benchmark.study.rehearsal.costs import GPUS
    from benchmark.study.rehearsal.plan import run_rehearsal, write_rehearsal

    options = {"profile": load_profile(slurm_profile)} if executor == "slurm" else {}
    checked_against = load_profile(check_profile or grid.slurm_profile)
    rows, meta = run_rehearsal(grid, runs_dir / f"rehearsal-{grid.name}", executor, options, GPUS[gpu],
                               checked_against, progress=progress, force=force)
    meta.update(grid=grid.name, command=command, host=f"{platform.machine()}, {os.cpu_count()} CPUs",
                check_profile=checked_against.source, code=provenance.code_version())
    return rows, write_rehearsal(rows, meta, out / f"{grid.name}-rehearsal")


KINDS = ("tasks", "methods", "learners", "recipes", "grids")


def catalogue(kinds: set[str], details: bool = False) -> list[str]:
    """The lines of ``list``: the registered tasks, methods and learners (with ``details``: the method and learner
    cards, every hyper-parameter with its default and each preset's values), the learner families' recipes and the
    grid presets."""
    from benchmark.learners import LEARNERS
    from benchmark.learners.base import learner_card_text
    from benchmark.learners.recipes import FAMILIES, family_defaults
    from benchmark.study.grid import preset_names
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
