"""Cached files that survive a kill or a power cut, and damaged ones that heal: every cached artifact is written
to a temporary name, fsynced and renamed (``save_npy``, ``save_npz`` over ``files.write_durably``; a folder built by
``cache.build_once`` is fsynced before its rename, ``fsync_tree``); a cached file that does not load is moved aside
(``<name>.damaged-<time>``) with a one-line warning, and its maker builds it again (``read_or_set_aside``).
(``dilm/durable.py`` is DiLM's twin of ``write_durably`` and ``set_aside``: neither package imports the other.)"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from benchmark.core.files import write_durably

log = logging.getLogger("benchmark.cache")


def save_npy(path: Path, array) -> None:
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to the temporary name
            np.save(f, array)
    write_durably(path, write)


def save_npz(path: Path, **arrays) -> None:
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    write_durably(path, write)


def fsync_tree(folder: Path) -> None:
    """fsync every file under ``folder`` and the folders themselves: what a staging folder holds is on disk before
    the rename that publishes it."""
    for directory, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                os.fsync(f.fileno())
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def set_aside(path: Path, why: str) -> Path:
    """Move ``path`` (a file or a folder) to ``<name>.damaged-<UTC time>-<pid>`` beside it (kept for a look, never
    read again) with a one-line warning saying ``why``."""
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another process set it aside first
        return target
    log.warning("damaged cache file %s: %s; moved aside to %s and made again", path, why, target.name)
    return target


def read_or_set_aside(path: Path, read):
    """``read(path)``, or None when there is no such file, or when the read fails in any way (a truncated or garbled
    file): the file is then set aside, and the caller builds it again."""
    if not path.exists():
        return None
    try:
        return read(path)
    except Exception as exc:  # whatever the reader raises: the file is not whole
        set_aside(path, f"does not load ({type(exc).__name__}: {str(exc)[:120]})")
        return None
