"""The Slurm executor: each stage's pending cells as job arrays through submitit, stage after stage.

Evaluate cells that train together (``benchmark.study.stacks``) go as one array task per stack. Arrays are
split to the profile's ``max_array_size``; ``array_parallelism`` caps concurrency; each
stage gets its resources from the profile. Jobs only call ``run_units``: results are read from the
store; a job that ended before its cells did (cancelled, out of time or memory, a failed node) has them
recorded as failed with its state, the setting to change and its log, and the next run runs them again. Cells
whose parent did not finish send no job.
Cells are Checkpointable: a timed-out or preempted job is requeued and the cell resumes from its
method's checkpoints in ``work/``.
"""
from __future__ import annotations

import inspect
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import submitit
from benchmark.core.yamlfile import read_yaml

from benchmark.study.cells import STAGES
from benchmark.core.errors import UsageError
from benchmark.study.runner import record_failure, run_units, split_ready
from benchmark.study.stacks import Unit, stage_units
from benchmark.study.store import Store

PROFILE_KEYS = {"max_array_size", "array_parallelism", "defaults", "stages", "min_task_s", "max_requeues"}


def _sbatch_keys() -> set[str]:
    from submitit.slurm.slurm import _make_sbatch_string

    return set(inspect.signature(_make_sbatch_string).parameters) - {"command", "folder", "map_count"}


@dataclass
class SlurmProfile:
    """Per-stage sbatch settings (submitit SlurmExecutor names), array size cap and parallelism."""

    defaults: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)
    max_array_size: int = 1000
    array_parallelism: int = 256
    min_task_s: float = 60.0  # cheap cells share an array task until it holds this much estimated work
    source: str = "<default>"
    max_requeues: int = 3  # times a task that reaches its time limit is requeued (submitit's max_num_timeout)

    def for_stage(self, stage: str) -> dict:
        return {**self.defaults, **self.stages.get(stage, {})}


def load_profile(name_or_path: str) -> SlurmProfile:
    """A profile from ``slurm/profiles/<name>.yaml`` of this checkout, or from a YAML path."""
    path, checkout = Path(name_or_path), Path(__file__).resolve().parents[3]
    if not path.is_file():
        path = checkout / "slurm" / "profiles" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UsageError(f"Slurm profile {name_or_path!r} not found (neither a file nor slurm/profiles/{name_or_path}.yaml)")
    data = read_yaml(path, "Slurm profile") or {}
    if not isinstance(data, dict) or set(data) - PROFILE_KEYS:
        raise UsageError(f"Slurm profile {path}: allowed keys are {', '.join(sorted(PROFILE_KEYS))}")
    allowed = _sbatch_keys()
    for where, settings in [("defaults", data.get("defaults") or {})] + [
            (f"stages.{s}", v or {}) for s, v in (data.get("stages") or {}).items()]:
        if where.startswith("stages.") and where[7:] not in STAGES:
            raise UsageError(f"Slurm profile {path}: unknown stage {where[7:]!r}; stages are {', '.join(STAGES)}")
        unknown = set(settings) - allowed
        if unknown:
            raise UsageError(f"Slurm profile {path}: {where}: unknown setting(s) {', '.join(sorted(unknown))}; "
                             f"use submitit SlurmExecutor names, e.g. partition, time, cpus_per_task, gpus_per_node, mem")
    return SlurmProfile(data.get("defaults") or {}, {s: v or {} for s, v in (data.get("stages") or {}).items()},
                        int(data.get("max_array_size", 1000)), int(data.get("array_parallelism", 256)),
                        float(data.get("min_task_s", 60.0)),
                        str(path.resolve().relative_to(checkout)) if path.resolve().is_relative_to(checkout) else str(path),
                        int(data.get("max_requeues", 3)))


def use_allocated_cpus() -> int | None:
    """Compute threads = the task's Slurm allocation (``cpus_per_task``), set before any work: PyTorch and BLAS
    otherwise start one thread per core of the node and oversubscribe a node that several tasks share."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if not cpus or not cpus.isdigit():
        return None
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = cpus
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(cpus))
    return int(cpus)


class UnitsJob(submitit.helpers.Checkpointable):
    """What one array task runs: its units one after the other (each a stack or a single cell; cheap units are
    bundled, so a task pays Python, torch and the task load once, not once per half-second cell). Requeued on
    timeout or preemption; a requeued task skips the cells it finished."""

    def __call__(self, units, root: str) -> dict:
        use_allocated_cpus()
        return run_units(units, Store(Path(root)))


def bundles(units: list[Unit], seconds, target_s: float) -> list[list[Unit]]:
    """Units grouped into array tasks of at least ``target_s`` estimated seconds (``seconds(unit)``), in order; a
    unit estimated at ``target_s`` or more is a task of its own."""
    out: list[list[Unit]] = []
    current, total = [], 0.0
    for unit in units:
        cost = seconds(unit)
        if cost >= target_s:
            out.append([unit])
            continue
        current.append(unit)
        total += cost
        if total >= target_s:
            out.append(current)
            current, total = [], 0.0
    return out + ([current] if current else [])


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def unit_seconds(store: Store, stage: str, unit: Unit, rehearsal=None) -> float:
    """A unit's estimated seconds, as ``run --dry-run`` estimates them: finished counterparts in the store, else the
    grid's committed ``rehearsal`` (``estimate.committed_rehearsal``), else the prior guesses."""
    from benchmark.study.estimate import estimate_seconds

    estimate = estimate_seconds(store, stage, unit.cells, rehearsal)
    return estimate.seconds + estimate.rehearsed_seconds + estimate.prior_seconds


def wait(jobs: list, stage: str, poll_s: float, progress: bool) -> None:
    """Until every job has ended; with ``progress``, a line of how many are pending, running, done and failed."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc=f"{stage:>8} (slurm)", unit="task", disable=not progress or not jobs)
    while True:
        states = Counter(_state(job) for job in jobs)
        ended = states["done"] + states["failed"]
        bar.update(ended - bar.n)
        bar.set_postfix_str(", ".join(f"{k} {states[k]}" for k in ("pending", "running", "done", "failed")))
        if ended == len(jobs):
            break
        time.sleep(poll_s)
    bar.close()


ENDED_EARLY = {"FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"}


def _state(job) -> str:
    """For the progress line: a job that ended without a result and in a failing state is "failed"."""
    if job.done():
        failed = not job.paths.result_pickle.exists() and _slurm_state(job, "standard") in ENDED_EARLY
        return "failed" if failed else "done"
    return "running" if job.state in ("RUNNING", "COMPLETING") else "pending"


def _ended_early(job) -> bool:
    """Whether the job ended before its cells did: Slurm ended it (no result file; a failing state such as
    ``CANCELLED by 0``, as last read from sacct) or its own code raised outside any cell (a cell's error is
    recorded by the cell)."""
    if job.paths.result_pickle.exists():
        return job.exception() is not None
    return _slurm_state(job) in ENDED_EARLY


def _slurm_state(job, mode: str = "cache") -> str:
    return (job.get_info(mode=mode).get("State") or "UNKNOWN").split(" ")[0]


ENDINGS = {  # why a job that ended before its cells finished did, and what to change
    "TIMEOUT": "it ran out of time: raise `time` under stages.{stage} in {profile}",
    "OUT_OF_MEMORY": "it ran out of memory: raise `mem` under stages.{stage} in {profile}",
    "CANCELLED": "it was cancelled (scancel, or the cluster)",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "it reached its deadline",
}


# Slurm ends a cancelled or timed-out job's processes with SIGTERM and, KillWait seconds later (often 30), SIGKILL;
# submitit lets SIGTERM pass, so a cell's lock can outlive its job's ending by that long: wait at most this much.
KILL_GRACE_S = 120.0


def job_ended(job, stage: str, profile: "SlurmProfile") -> str:
    """The error recorded for a cell whose Slurm job ended before the cell did: the job, its state, the likely
    cause with the setting to change, and the job's own log (or that it has none: a job ended while still pending
    never started, so Slurm wrote no log)."""
    state = _slurm_state(job)
    why = ENDINGS.get(state, "its process failed outside the cell's code (see the job log)").format(
        stage=stage, profile=profile.source)
    log = job.paths.stderr
    where = f"job log: {log}" if log.is_file() else "no job log: the job ended before it started"
    return (f"SlurmJobEnded: Slurm job {job.job_id} ended {state} before the cell finished: {why}; the next run of "
            f"the same command runs the cell again ({where})")


def run_slurm(cells: dict[str, list], store: Store, profile: SlurmProfile, progress: bool = True,
              poll_s: float = 2.0, stack: int = 1, rehearsal=None) -> dict[str, Counter]:
    """Submit each stage's pending cells as arrays (evaluate cells in stacks of up to ``stack``, one array task
    per stack; cheap units bundled by their estimates, from the grid's committed ``rehearsal`` where the store has
    no finished counterpart), wait for them, then go on to the next stage."""
    outcome = {}
    for stage in STAGES:
        pending = [c for c in cells[stage] if not store.is_done(stage, c.id)]
        ready, blocked = split_ready(pending, store)  # a parent that did not finish sends no job for its cells
        counts = Counter(skipped=len(cells[stage]) - len(pending), **({"parent not done": len(blocked)} if blocked else {}))
        executor = submitit.SlurmExecutor(folder=store.root / "_submitit" / stage, max_num_timeout=profile.max_requeues)
        executor.update_parameters(job_name=f"dilm-bench-{stage}", array_parallelism=profile.array_parallelism,
                                   **profile.for_stage(stage))
        jobs, job_of = [], {}
        for cell in ready:  # a failure of an earlier run is superseded by this attempt (or by this job's ending)
            store.clear_failure(stage, cell.id)
        units = stage_units(stage, ready, store, stack, fit_here=False)
        tasks = bundles(units, lambda unit: unit_seconds(store, stage, unit, rehearsal), profile.min_task_s)
        for chunk in chunks(tasks, profile.max_array_size):
            with executor.batch():
                submitted = [executor.submit(UnitsJob(), task, str(store.root)) for task in chunk]
            job_of.update({cell.id: job for job, task in zip(submitted, chunk) for unit in task for cell in unit.cells})
            jobs += submitted
            if progress:
                print(f"{stage}: submitted array {jobs[-1].job_id.split('_')[0]} "
                      f"({sum(len(u.cells) for task in chunk for u in task)} cells in {len(chunk)} tasks)", flush=True)
        wait(jobs, stage, poll_s, progress)
        unfinished = [c for c in ready if not (store.is_done(stage, c.id) or store.is_failed(stage, c.id))]
        if jobs and unfinished:
            jobs[0].watcher.update()  # one sacct call now for every job, not the state cached up to a minute ago
        ended_early = {}  # per job: a bundled job's result file is read once, not once per cell it held
        grace = time.monotonic() + KILL_GRACE_S
        for cell in unfinished:  # the store says what the cells did; the job, why a cell it held did not finish
            job = job_of[cell.id]
            if job.job_id not in ended_early:
                ended_early[job.job_id] = _ended_early(job)
            if ended_early[job.job_id]:
                while store.is_running(stage, cell.id) and time.monotonic() < grace:
                    time.sleep(0.5)  # the ended job's process, not yet killed, may still hold the cell
                with store.claim(stage, cell.id) as mine:  # held: a runner still has the cell (not this job's)
                    if mine and not store.is_done(stage, cell.id):
                        record_failure(cell, store, job_ended(job, stage, profile))
        for cell in ready:
            counts["done" if store.is_done(stage, cell.id) else "failed" if store.is_failed(stage, cell.id)
                   else "not finished"] += 1  # not finished: another runner holds it
        outcome[stage] = counts
    return outcome
