"""Running one cell: build its task, method and learner from the registries, do the stage's work,
and write its record (config, seeds, metrics, wall time, peak memory, versions, git commit, host)."""
from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import traceback
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from benchmark.core import provenance
from benchmark.core.cache import artifact_ledger
from benchmark.study.cells import DistillCell, EvalCell, FitCell
from benchmark.study.describe import describe
from benchmark.learners import LEARNERS, checkpoints
from benchmark.core.metrics import compute_metrics
from benchmark.study.store import WORK, Store
from benchmark.tasks import load_task

SCHEMA_VERSION = 2  # 2: records carry ``described`` (labels, kinds, spaces: what the report needs)
log = logging.getLogger("benchmark")


def run_cell(cell, store: Store) -> str:
    """Run ``cell`` unless it is done or another process is running it; returns "skipped", "busy",
    "done" or "failed" (with error.json written)."""
    return _run_unit([cell], store, lambda mine, dirs: [STAGE_RUNNERS[cell.stage](cell, store, dirs[cell.id])])[cell.id]


def run_stack(cells: list[EvalCell], store: Store) -> dict[str, str]:
    """Evaluate cells of one task and one learner (on text sets) trained together by the learner's
    ``fit_predict_many``; each cell still gets its own record, log and predictions. Returns each cell's
    outcome, like ``run_cell``; if the stack fails, each of its cells is recorded as failed."""
    return _run_unit(cells, store, lambda mine, dirs: _stacked_bodies(mine, store, dirs))


def run_units(units: list, store: Store) -> dict[str, str]:
    """Each unit (``benchmark.study.stacks.Unit``) in turn: a stack through ``run_stack``, a single cell through
    ``run_cell``; every cell's outcome."""
    outcome: dict[str, str] = {}
    for unit in units:
        outcome.update(run_stack(unit.cells, store) if unit.stacked
                       else {unit.cells[0].id: run_cell(unit.cells[0], store)})
    return outcome


def _run_unit(cells: list, store: Store, work) -> dict[str, str]:
    """The one lifecycle of a unit of cells (a single cell or a stack): claim each (done: skipped; held by another
    runner: busy), prepare its folder and log, run ``work(claimed, folders)`` once for all claimed cells under one
    memory and time measurement, then record each (``record.json`` + ``done``) or, if the work raised, fail each
    (``error.json``). A fine-tune in the work checkpoints into the first cell's ``work/training/`` (and resumes from
    any cell's), which goes once the cells are recorded. The claims are held until every record is written."""
    outcome = {}
    with ExitStack() as held:
        mine = []
        for cell in cells:
            if store.is_done(cell.stage, cell.id):
                outcome[cell.id] = "skipped"
            elif not held.enter_context(store.claim(cell.stage, cell.id)):
                outcome[cell.id] = "busy"
            elif store.is_done(cell.stage, cell.id):  # finished by another runner while we looked
                outcome[cell.id] = "skipped"
            else:
                mine.append(cell)
        if not mine:
            return outcome
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        directories = {}
        for cell in mine:
            store.journal("start", cell.stage, cell.id)
            directories[cell.id] = store.prepare(cell.stage, cell.id)
        with ExitStack() as logs:
            for cell in mine:
                logs.enter_context(_cell_log(directories[cell.id] / "log.txt"))
            if len(mine) == 1:
                log.info("start %s cell %s: %s", mine[0].stage, mine[0].id, mine[0].config)
            else:
                log.info("start %d stacked evaluate cells: %s", len(mine), [cell.id for cell in mine])
            try:
                t0 = time.perf_counter()
                training = [directories[cell.id] / WORK / checkpoints.FOLDER for cell in mine]
                with (provenance.PeakMemory() as memory, artifact_ledger() as artifacts,
                      checkpoints.kept_in(training) as kept):
                    bodies = work(mine, directories)
                wall = time.perf_counter() - t0
            except Exception as exc:  # a failed cell is recorded; the rest of the grid goes on
                log.exception("%s failed", f"cell {mine[0].id}" if len(mine) == 1 else f"stack of {len(mine)} cells")
                for cell in mine:
                    store.fail(cell.stage, cell.id, {**_header(cell, started), "error": f"{type(exc).__name__}: {exc}",
                                                     "traceback": traceback.format_exc()})
                    store.journal("failed", cell.stage, cell.id)
                    outcome[cell.id] = "failed"
                return outcome
            metrics = bodies[0].get("metrics") if len(mine) == 1 else None
            log.info("done in %.1f s%s", wall, f": {metrics}" if metrics else "")
        finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        resumed = {} if kept.resumed_from is None else {"training_resumed_after_step": kept.resumed_from}
        for cell, body, folder in zip(mine, bodies, training):
            store.finish(cell.stage, cell.id, {**_header(cell, started), **body, **resumed,
                                               "wall_s": round(wall / len(mine), 3), "memory": memory.as_dict(),
                                               "artifacts": artifacts, "finished_at": finished})
            store.journal("done", cell.stage, cell.id)
            shutil.rmtree(folder, ignore_errors=True)  # a finished run's checkpoints are never read again
            outcome[cell.id] = "done"
    return outcome


def _header(cell, started: str) -> dict:
    return {"schema": SCHEMA_VERSION, "stage": cell.stage, "cell_id": cell.id, "config": cell.config,
            "described": describe(cell.config), "started_at": started, "versions": provenance.package_versions(),
            "git": provenance.git_state(), "code_version": provenance.code_version(), "host": provenance.host()}


def _task(cell):
    return load_task(cell.fit_cell.task.name, cell.fit_cell.task.params)


def _method(fit: FitCell):
    from methods import METHODS

    return METHODS.create(fit.method.name, **fit.method.kwargs)


def _run_fit(cell: FitCell, store: Store, directory: Path) -> dict:
    from methods.base import FitContext

    task = _task(cell)
    method = _method(cell)
    ctx = FitContext(work_dir=directory / WORK, seed=cell.fit_seed)
    state = method.fit(task, ctx)
    (directory / "state").mkdir()
    method.save_state(state, directory / "state")
    return {"task": task.describe(), "method_params": method.get_params(), "fit_report": method.fit_report(state)}


def _run_distill(cell: DistillCell, store: Store, directory: Path) -> dict:
    _require_done(store, cell.fit)
    task = _task(cell)
    method = _method(cell.fit)
    fit_dir = store.cell_dir("fit", cell.fit.id)
    state = method.load_state(fit_dir / "state", task)
    distilled = method.distill(state, cell.dpc, cell.set_seed)
    distilled.save(directory)
    return {"task": task.describe(), "fit_cell": cell.fit.id, "distilled": {
        "n_examples": len(distilled), "per_class": distilled.per_class(), "kind": method.kind}}


def _run_evaluate(cell: EvalCell, store: Store, directory: Path) -> dict:
    from methods.base import load_distilled

    _require_done(store, cell.distill)
    task = _task(cell)
    distilled = load_distilled(store.cell_dir("distill", cell.distill.id))
    learner = LEARNERS.create(cell.learner.name, **cell.learner.kwargs).for_task(task)
    test = task.splits.test
    t0 = time.perf_counter()
    if distilled.kind == "embedding":  # trains with the recipe the set carries, in its own embedding space
        predictions = learner.fit_predict_embedded(distilled, test, task.num_classes, cell.eval_seed)
    else:
        predictions = learner.fit_predict(distilled.examples, test, task.num_classes, cell.eval_seed)
    return _evaluate_body(cell, task, distilled, learner, predictions, time.perf_counter() - t0, directory)


def _evaluate_body(cell: EvalCell, task, distilled, learner, predictions, seconds: float, directory: Path) -> dict:
    """An evaluate record's body; the predictions are saved next to it."""
    predictions, details = predictions if isinstance(predictions, tuple) else (predictions, None)
    test = task.splits.test
    np.save(directory / "predictions.npy", predictions.astype(np.int16))
    return {"task": task.describe(), "fit_cell": cell.distill.fit.id, "distill_cell": cell.distill.id,
            "recipe": learner.get_params(), "learner_family": learner.family,
            **({"class_weight_reason": learner.class_weight_reason} if learner.class_weight_reason else {}),
            "seeds": {"fit": cell.distill.fit.fit_seed, "set": cell.distill.set_seed, "eval": cell.eval_seed},
            "distilled": {"n_examples": len(distilled), "per_class": distilled.per_class()},
            "metrics": compute_metrics(test.labels, predictions, task.num_classes),
            "train_predict_s": round(seconds, 3), **({"learner_details": details} if details else {})}


def _stacked_bodies(cells: list[EvalCell], store: Store, directories: dict) -> list[dict]:
    """The evaluate records' bodies of cells trained together (``fit_predict_many``), each with the stack it ran in."""
    from methods.base import load_distilled

    t0 = time.perf_counter()
    for cell in cells:
        _require_done(store, cell.distill)
    task = _task(cells[0])
    learner = LEARNERS.create(cells[0].learner.name, **cells[0].learner.kwargs).for_task(task)
    sets = [load_distilled(store.cell_dir("distill", cell.distill.id)) for cell in cells]
    predictions = learner.fit_predict_many([s.examples for s in sets], task.splits.test, task.num_classes,
                                           [cell.eval_seed for cell in cells])
    wall = time.perf_counter() - t0
    stack = {"cells": len(cells), "wall_s": round(wall, 3), "members": [cell.id for cell in cells]}
    return [{**_evaluate_body(cell, task, s, learner, p, wall / len(cells), directories[cell.id]), "stack": stack}
            for cell, s, p in zip(cells, sets, predictions)]


def split_ready(cells: list, store: Store) -> tuple[list, list]:
    """The cells whose parent is done (or that have none), and those whose parent is not: executors run only the
    first, so a failed fit is one failure, not also a failure of every set and run below it."""
    ready, blocked = [], []
    for cell in cells:
        (ready if store.parent_done(cell) else blocked).append(cell)
    return ready, blocked


def record_failure(cell, store: Store, error: str) -> None:
    """Record ``cell`` as failed for a cause outside its own code (its Slurm job ended first): the next run retries
    it, and ``status`` and the run's summary show the cause."""
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    store.fail(cell.stage, cell.id, {**_header(cell, started), "error": error, "traceback": ""})
    store.journal("failed", cell.stage, cell.id)


def _require_done(store: Store, parent) -> None:
    if not store.is_done(parent.stage, parent.id):
        raise RuntimeError(f"parent {parent.stage} cell {parent.id} is not done "
                           f"(see {store.cell_dir(parent.stage, parent.id)})")


STAGE_RUNNERS = {"fit": _run_fit, "distill": _run_distill, "evaluate": _run_evaluate}


@contextmanager
def _cell_log(path: Path):
    """Send the ``benchmark``/``methods``/``dilm`` loggers (and warnings) to the cell's log file."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("benchmark", "methods", "dilm", "py.warnings")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()
