"""Files that survive a kill or a power cut, and damaged ones that heal: a file is written to a temporary name,
fsynced and renamed; a file that does not load is moved aside (``<name>.damaged-<time>``) with a one-line warning,
and its maker builds it again. (``benchmark/core/durable.py`` is the harness's twin: neither package imports the
other.)"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger("dilm.durable")


def write_durably(path: Path, write) -> None:
    """``write(temporary path)`` fills a temporary file beside ``path``, which is fsynced and renamed to ``path``
    (readers see the old file or the whole new one, also after a power cut or a kill)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_aside(path: Path, why: str, kind: str = "damaged") -> Path:
    """Move ``path`` to ``<name>.<kind>-<UTC time>-<pid>`` beside it (kept for a look, never read again) with a
    one-line warning saying ``why``."""
    target = path.with_name(f"{path.name}.{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another process set it aside first
        return target
    log.warning("%s file %s: %s; moved aside to %s", kind, path, why, target.name)
    return target
