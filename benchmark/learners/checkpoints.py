"""Long fine-tunes survive a kill: the runner names the folders a learner's training may keep its checkpoints in
(``kept_in``), and a training loop (``TrainingCheckpoints``) saves its whole state there every ``minutes`` of wall
time. Run again, the same training (same recipe, sets and seeds: its fingerprint) goes on from the last save instead
of step 0; a run shorter than ``minutes`` never writes one."""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from benchmark.learners.progress import logged_steps
from dilm.checkpoint import Schedule, load_state, rng_state, save_state, set_rng_state

MINUTES = 10.0  # wall time between two saves, unless $DILM_BENCH_CHECKPOINT_MINUTES says otherwise
ENV = "DILM_BENCH_CHECKPOINT_MINUTES"
FOLDER = "training"  # under an evaluate cell's ``work/``, which survives a failed or killed run
log = logging.getLogger("benchmark.learners")


@dataclass
class Kept:
    """Where checkpoints go (the first folder) and are looked for (every folder: a stack re-formed in another order
    finds its save in a member's folder), how often, and from which step the training resumed (for its record)."""

    folders: list[Path]
    minutes: float = MINUTES
    clock: Callable[[], float] = time.monotonic
    resumed_from: int | None = field(default=None)


_KEPT: ContextVar[Kept | None] = ContextVar("training_checkpoints", default=None)


@contextmanager
def kept_in(folders: list[Path], minutes: float | None = None, clock: Callable[[], float] = time.monotonic):
    """Within the block, fine-tunes checkpoint into ``folders[0]`` every ``minutes`` (default: the environment's
    ``$DILM_BENCH_CHECKPOINT_MINUTES``, else ``MINUTES``; a preemptible partition may want fewer) and resume from
    any of ``folders``."""
    if minutes is None:
        minutes = _minutes(os.environ.get(ENV, str(MINUTES)))
    kept = Kept([Path(f) for f in folders], minutes, clock)
    token = _KEPT.set(kept)
    try:
        yield kept
    finally:
        _KEPT.reset(token)


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        minutes = -1.0
    if not minutes >= 0:
        raise ValueError(f"${ENV} must be a number of minutes >= 0 (0: a save after every step), got {value!r}")
    return minutes


class TrainingCheckpoints:
    """One training's saves, in a subfolder named by its fingerprint (so the runs a learner trains one after the
    other in one unit keep one each); outside ``kept_in`` it neither saves nor resumes."""

    def __init__(self, fingerprint: dict):
        self.kept = _KEPT.get()
        self.fingerprint = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
        self.schedule = Schedule(self.kept.minutes, self.kept.clock) if self.kept else None
        self.resumed, self.start = False, 0

    def resume(self, device, optimizer, scheduler) -> dict | None:
        """This training's last save with the optimizer, schedule and RNG states restored from it (the weights are
        the caller's to restore), or None: nothing saved, or only saves of other trainings."""
        for folder in self.kept.folders if self.kept else []:
            state = load_state(folder / self.fingerprint[:16], device)
            if state is not None and state["fingerprint"] == self.fingerprint:
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                set_rng_state(state["rng"])
                self.resumed, self.start = True, int(state["step"])
                self.kept.resumed_from = self.start
                log.info("resumed from the checkpoint of step %d in %s", state["step"], folder)
                return state
        return None

    def steps(self, batches: Iterable, total: int, what: str) -> Iterator[tuple[int, object]]:
        """(step index, batch) of the steps left after the resumed one, under ``logged_steps``."""
        if self.start:
            what += f", resumed after step {self.start}"
        left = itertools.islice(batches, self.start, None)
        return enumerate(logged_steps(left, total - self.start, what), self.start)

    def save_if_due(self, step: int, state: Callable[[], dict]) -> None:
        """Save after ``step`` completed steps when ``minutes`` have passed since the last save."""
        if self.schedule is not None and self.schedule.due():
            self._save(step, state())

    def save_last(self, step: int, state: Callable[[], dict]) -> None:
        """After the last step, save again if this training saved or resumed before (a long one): a kill while it
        scores then loses only the scoring."""
        if self.schedule is not None and (self.schedule.saves or self.resumed):
            self._save(step, state())

    def _save(self, step: int, state: dict) -> None:
        t0 = time.perf_counter()
        save_state(self.kept.folders[0] / self.fingerprint[:16], {**state, "step": step, "rng": rng_state(),
                                                                  "fingerprint": self.fingerprint})
        self.schedule.saved()
        log.info("checkpoint of step %d saved in %.1f s", step, time.perf_counter() - t0)
