"""Resumable training: a checkpoint holds model, optimizer, scheduler, the RNG states and the step.

A checkpoint is one safetensors file: every tensor in it, and the rest of the state (numbers, RNG states, the
structure that puts the tensors back in place) as JSON in its metadata. Nothing in it is unpickled, so a crafted
file cannot run code; an old ``checkpoint.pt`` (a pickle) is refused, never opened, and the training starts over.
Written to a temporary file, fsynced and renamed, so a kill during the write leaves the previous checkpoint; a
file that does not load (truncated, garbage) is moved aside with a warning and the training starts over.
Checkpoints are taken by wall time (``Schedule``): a Slurm time-out or preemption loses at most that many
minutes, whatever a step costs on the hardware at hand.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from dilm.durable import set_aside, write_durably

NAME = "checkpoint.safetensors"
LEGACY = "checkpoint.pt"  # the pickled format of earlier versions: refused
FORMAT = "dilm-checkpoint-1"


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
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_state(directory: Path, state: dict) -> Path:
    """Write ``state`` (nested dicts, lists and tuples of tensors, arrays, numbers and text) as
    ``directory/checkpoint.safetensors``, durably."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict = {}
    tree = _pack(state, tensors)
    path = directory / NAME
    metadata = {"format": FORMAT, "state": json.dumps(tree)}
    write_durably(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return path


def load_state(directory: Path, device=None) -> dict | None:
    """The state saved in ``directory`` (tensors moved to ``device``), or None when there is none, or only an old
    pickled one (refused unopened) or a damaged one (moved aside): the training then starts over."""
    legacy = directory / LEGACY
    if legacy.exists():
        set_aside(legacy, "a pickled checkpoint of an earlier version, never opened (unpickling can run code); the "
                          "training starts over", kind="refused")
    path = directory / NAME
    if not path.exists():
        return None
    try:
        return _read(path, device)
    except Exception as exc:  # any reader error: the file is not a whole checkpoint of this format
        set_aside(path, f"does not load ({type(exc).__name__}: {str(exc)[:120]}); the training starts over")
        return None


def _read(path: Path, device) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        metadata = f.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"format {metadata.get('format')!r}, expected {FORMAT!r}")
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    if device is not None:
        tensors = {key: value.to(device) for key, value in tensors.items()}
    return _unpack(json.loads(metadata["state"]), tensors)


def _pack(value, tensors: dict):
    """``value`` as JSON, its tensors moved into ``tensors`` (by key): dicts with text keys stay objects, other
    containers and arrays are tagged (``{"__tensor__": key}``, ``{"__tuple__": [...]}``...) so they come back as
    they were."""
    import torch

    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()  # a copy: safetensors refuses shared storage
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _pack(v, tensors) for k, v in value.items()}
        return {"__items__": [[_pack(k, tensors), _pack(v, tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_pack(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_pack(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a checkpoint holds tensors, arrays, numbers, text and containers of them, not "
                    f"{type(value).__name__}")


def _unpack(value, tensors: dict):
    if isinstance(value, list):
        return [_unpack(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"])
    if "__tuple__" in value:
        return tuple(_unpack(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {_hashable(_unpack(k, tensors)): _unpack(v, tensors) for k, v in value["__items__"]}
    return {k: _unpack(v, tensors) for k, v in value.items()}


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


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
