"""Resumable training: a checkpoint holds model, optimizer, scheduler, the RNG states and the step.

Written to a temporary file and renamed, so a kill during the write leaves the previous checkpoint.
Checkpoints are taken by wall time (``Schedule``): a Slurm time-out or preemption loses at most that many
minutes, whatever a step costs on the hardware at hand.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np

NAME = "checkpoint.pt"


class Schedule:
    """Says when a checkpoint is due: once ``minutes`` of wall time have passed since the last one (0: at every
    chance). ``clock`` is injectable for tests."""

    def __init__(self, minutes: float, clock=time.monotonic):
        self.seconds = 60.0 * float(minutes)
        self.clock = clock
        self.last = clock()
        self.saves = 0

    def due(self) -> bool:
        return self.clock() - self.last >= self.seconds

    def saved(self) -> None:
        self.last = self.clock()
        self.saves += 1


def rng_state() -> dict:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(directory: Path, state: dict) -> Path:
    """Write ``state`` (anything ``torch.save`` takes) as ``directory/checkpoint.pt``, atomically."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / NAME
    tmp = directory / f".{NAME}.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_state(directory: Path, device=None) -> dict | None:
    """The state saved in ``directory`` (tensors moved to ``device``), or None when there is none."""
    import torch

    path = directory / NAME
    return torch.load(path, map_location=device, weights_only=False) if path.exists() else None


def save(directory: Path, step: int, model, optimizer, scheduler, extra: dict | None = None) -> Path:
    """Checkpoint a model's training; ``step`` is the number of completed steps."""
    return save_state(directory, {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                  "scheduler": scheduler.state_dict(), "rng": rng_state(), "extra": extra or {}})


def load(directory: Path, model, optimizer, scheduler) -> tuple[int, dict]:
    """Restore the last checkpoint of ``directory`` into the given objects: (completed steps, extra).
    (0, {}) when there is none."""
    state = load_state(directory, next(model.parameters()).device)
    if state is None:
        return 0, {}
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return int(state["step"]), state["extra"]
