"""Resumable training: a checkpoint holds model, optimizer, scheduler, the RNG states and the step.

Written to a temporary file and renamed, so a kill during the write leaves the previous checkpoint.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

NAME = "checkpoint.pt"


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


def save(directory: Path, step: int, model, optimizer, scheduler, extra: dict | None = None) -> Path:
    """Write ``directory/checkpoint.pt`` atomically; ``step`` is the number of completed steps."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / NAME
    tmp = directory / f".{NAME}.{os.getpid()}.tmp"
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng_state(), "extra": extra or {}}, tmp)
    os.replace(tmp, path)
    return path


def load(directory: Path, model, optimizer, scheduler) -> tuple[int, dict]:
    """Restore the last checkpoint of ``directory`` into the given objects: (completed steps, extra).
    (0, {}) when there is none."""
    import torch

    path = directory / NAME
    if not path.exists():
        return 0, {}
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return int(state["step"]), state["extra"]
