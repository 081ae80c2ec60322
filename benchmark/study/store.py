"""The store: a runs folder with one sub-folder per cell, its record written atomically, ``done`` last.

``<runs>/<stage>/<cell id>/record.json`` (config, metrics, timings, versions, git hash, host),
artifacts beside it, ``log.txt``, and ``done``. A cell with ``done`` is never run again; a cell
without it is re-run from scratch (its ``work/`` folder, where a method keeps checkpoints, survives).
A failed cell writes ``error.json`` instead of ``done``.

Concurrency: a runner holds an exclusive lock on ``<cell>/.lock`` (``flock``, released by the kernel
when the process dies, even by SIGKILL) while it runs the cell, and re-checks ``done`` once it holds
it, so two runners on one folder never run a cell twice. ``journal.jsonl`` in the root gets one
appended line per start, finish and failure: the audit trail of who ran what, when.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

RECORD = "record.json"
DONE = "done"
ERROR = "error.json"
WORK = "work"
LOCK = ".lock"
JOURNAL = "journal.jsonl"
FIDELITY = "fidelity"  # <runs>/fidelity/<distill cell id>/: the judge's measures of a finished text set


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path,)):
        return str(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Store:
    """Cell folders under ``root``, addressed by (stage, cell id)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.damaged: list[Path] = []  # records that done_records found unreadable

    def cell_dir(self, stage: str, cell_id: str) -> Path:
        return self.root / stage / cell_id

    def is_done(self, stage: str, cell_id: str) -> bool:
        return (self.cell_dir(stage, cell_id) / DONE).exists()

    def parent_done(self, cell) -> bool:
        """Whether ``cell``'s parent is done (a fit cell has none): only then can the cell run, or have failed in
        this round (an error below an unfinished parent is of an older run)."""
        return cell.parent is None or self.is_done(cell.parent.stage, cell.parent.id)

    def is_failed(self, stage: str, cell_id: str) -> bool:
        return (self.cell_dir(stage, cell_id) / ERROR).exists() and not self.is_done(stage, cell_id)

    @contextmanager
    def claim(self, stage: str, cell_id: str):
        """Hold the cell's lock for a block; yields False (and holds nothing) when another process has it."""
        directory = self.cell_dir(stage, cell_id)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / LOCK, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_running(self, stage: str, cell_id: str) -> bool:
        """Whether some process holds the cell's lock right now."""
        lock = self.cell_dir(stage, cell_id) / LOCK
        if not lock.exists():
            return False
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def journal(self, event: str, stage: str, cell_id: str) -> None:
        """Append one line to the journal (a single O_APPEND write: lines from many processes never mix)."""
        line = json.dumps({"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                           "event": event, "stage": stage, "cell_id": cell_id, "host": socket.gethostname(),
                           "pid": os.getpid()}) + "\n"
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def prepare(self, stage: str, cell_id: str) -> Path:
        """A clean folder for a (re-)run of the cell: leftovers of an unfinished run are removed, except
        ``work/`` (method checkpoints to resume from) and the lock."""
        directory = self.cell_dir(stage, cell_id)
        directory.mkdir(parents=True, exist_ok=True)
        for entry in directory.iterdir():
            if entry.name in (WORK, LOCK):
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return directory

    def discard(self, stage: str, cell_id: str) -> bool:
        """Forget a cell entirely (``run --force``): its next run starts from nothing. Done under the cell's lock,
        which stays: a cell another runner holds is left as it is (False), never deleted under it."""
        directory = self.cell_dir(stage, cell_id)
        if not directory.is_dir():
            return True
        with self.claim(stage, cell_id) as claimed:
            if not claimed:
                return False
            for entry in directory.iterdir():
                if entry.name != LOCK:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return True

    def finish(self, stage: str, cell_id: str, record: dict) -> None:
        """Write the record, then the ``done`` marker (last: its presence means the record is whole)."""
        directory = self.cell_dir(stage, cell_id)
        atomic_write_json(directory / RECORD, record)
        atomic_write_text(directory / DONE, "")

    def fail(self, stage: str, cell_id: str, record: dict) -> None:
        atomic_write_json(self.cell_dir(stage, cell_id) / ERROR, record)

    def clear_failure(self, stage: str, cell_id: str) -> None:
        """Forget an earlier failure of a cell about to be tried again (its log and work stay)."""
        (self.cell_dir(stage, cell_id) / ERROR).unlink(missing_ok=True)

    def record(self, stage: str, cell_id: str) -> dict:
        return json.loads((self.cell_dir(stage, cell_id) / RECORD).read_text(encoding="utf-8"))

    def error(self, stage: str, cell_id: str) -> dict:
        return json.loads((self.cell_dir(stage, cell_id) / ERROR).read_text(encoding="utf-8"))

    def done_records(self, stage: str):
        """Every finished record of a stage (cells without ``done`` are skipped: they are not whole). A record that
        does not parse (a truncated copy, a full disk) is skipped too and its path added to ``self.damaged``."""
        stage_dir = self.root / stage
        if not stage_dir.is_dir():
            return
        for directory in sorted(stage_dir.iterdir()):
            if (directory / DONE).exists():
                record = _read_json(directory / RECORD)
                if record is None:
                    self.damaged.append(directory / RECORD)
                    continue
                yield record

    def set_aside_damaged(self, stage: str, cell_ids) -> list[Path]:
        """Done cells whose record does not parse become not done: the record moves to
        ``<runs>/damaged/<stage>/<cell id>.record.json`` (kept for a look) and ``done`` is removed, so the next run
        makes the cell again. Returns where the records went."""
        moved = []
        for cell_id in cell_ids:
            directory = self.cell_dir(stage, cell_id)
            if (directory / DONE).exists() and _read_json(directory / RECORD) is None:
                target = self.root / "damaged" / stage / f"{cell_id}.{RECORD}"
                target.parent.mkdir(parents=True, exist_ok=True)
                if (directory / RECORD).exists():
                    os.replace(directory / RECORD, target)
                (directory / DONE).unlink()
                moved.append(target)
        return moved


def _read_json(path: Path) -> dict | None:
    """A JSON object from ``path``, or None when the file is missing, not UTF-8 or not a whole JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
