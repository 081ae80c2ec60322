"""The Slurm executor: each stage's pending cells as job arrays through submitit, stage after stage.

Evaluate cells that train together (``benchmark.stacks``) go as one array task per stack. Arrays are
split to the profile's ``max_array_size``; ``array_parallelism`` caps concurrency; each
stage gets its resources from the profile. Jobs only call ``run_cell``: results are read from the
store, never from Job objects, so a failed or cancelled job leaves its cell pending for the next run.
Cells are Checkpointable: a timed-out or preempted job is requeued and the cell resumes from its
method's checkpoints in ``work/``.
"""
from __future__ import annotations

import inspect
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import submitit
import yaml

from benchmark.cells import STAGES
from benchmark.errors import UsageError
from benchmark.runner import run_cell, run_stack
from benchmark.stacks import Unit, stack_units
from benchmark.store import Store

PROFILE_KEYS = {"max_array_size", "array_parallelism", "defaults", "stages"}


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
    source: str = "<default>"

    def for_stage(self, stage: str) -> dict:
        return {**self.defaults, **self.stages.get(stage, {})}


def load_profile(name_or_path: str) -> SlurmProfile:
    """A profile from ``slurm/profiles/<name>.yaml`` of this checkout, or from a YAML path."""
    path = Path(name_or_path)
    if not path.is_file():
        path = Path(__file__).resolve().parents[2] / "slurm" / "profiles" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UsageError(f"Slurm profile {name_or_path!r} not found (neither a file nor slurm/profiles/{name_or_path}.yaml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
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
                        int(data.get("max_array_size", 1000)), int(data.get("array_parallelism", 256)), str(path))


class CellJob(submitit.helpers.Checkpointable):
    """What one array task runs: one cell, into the store at ``root``. Requeued on timeout/preemption."""

    def __call__(self, cell, root: str) -> str:
        return run_cell(cell, Store(Path(root)))


class StackJob(submitit.helpers.Checkpointable):
    """What one array task runs for a stack of evaluate cells trained together (``run_stack``)."""

    def __call__(self, cells, root: str) -> dict:
        return run_stack(cells, Store(Path(root)))


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_slurm(cells: dict[str, list], store: Store, profile: SlurmProfile, progress: bool = True,
              poll_s: float = 2.0, stack: int = 1) -> dict[str, Counter]:
    """Submit each stage's pending cells as arrays (evaluate cells in stacks of up to ``stack``, one array task
    per stack), wait for them, then go on to the next stage."""
    outcome = {}
    for stage in STAGES:
        pending = [c for c in cells[stage] if not store.is_done(stage, c.id)]
        counts = Counter(skipped=len(cells[stage]) - len(pending))
        executor = submitit.SlurmExecutor(folder=store.root / "_submitit" / stage)
        executor.update_parameters(job_name=f"dilm-bench-{stage}", array_parallelism=profile.array_parallelism,
                                   **profile.for_stage(stage))
        jobs = []
        units = ([Unit([cell], False) for cell in pending] if stage != "evaluate"
                 else stack_units(pending, store, stack, fit_here=False))
        for chunk in chunks(units, profile.max_array_size):
            with executor.batch():
                jobs += [executor.submit(StackJob(), unit.cells, str(store.root)) if unit.stacked
                         else executor.submit(CellJob(), unit.cells[0], str(store.root)) for unit in chunk]
            if progress:
                print(f"{stage}: submitted array {jobs[-1].job_id.split('_')[0]} "
                      f"({sum(len(unit.cells) for unit in chunk)} cells)", flush=True)
        while not all(job.done() for job in jobs):
            time.sleep(poll_s)
        for cell in pending:  # the store, not the Job objects, says what happened
            counts["done" if store.is_done(stage, cell.id) else "failed" if store.is_failed(stage, cell.id)
                   else "not finished"] += 1
        outcome[stage] = counts
    return outcome
