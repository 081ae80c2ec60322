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
from contextlib import contextmanager
from pathlib import Path

from benchmark.core.files import atomic_write_json, atomic_write_text

RECORD = "record.json"
DONE = "done"
ERROR = "error.json"
WORK = "work"
LOCK = ".lock"
JOURNAL = "journal.jsonl"
FIDELITY = "fidelity"  # <runs>/fidelity/<distill cell id>/: the judge's measures of a finished text set
# the keys a whole record has (what readers index without a default): one without them is damaged like a cut one
RECORD_KEYS = ("cell_id", "config", "wall_s", "memory")
STAGE_KEYS = {"evaluate": RECORD_KEYS + ("task", "metrics", "code_version", "git"),
              FIDELITY: ("distill_cell", "config", "set_checksum")}
ERROR_KEYS = ("error",)  # what status reads; the report reads a failed evaluate cell's cell_id and config too
PLANS = "grids"  # <runs>/grids/<grid name>.json: the cells each grid run into this folder asked for


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
        """A failed cell's ``error.json``; one that does not parse or lacks its keys is moved to
        ``<runs>/damaged/<stage>/<cell id>.error.json`` and read as an error saying so (the cell stays failed: the
        next run tries it again)."""
        path = self.cell_dir(stage, cell_id) / ERROR
        error = read_json(path, ERROR_KEYS)
        if error is None:
            target = self._move_damaged(path, stage, cell_id)
            return {"cell_id": cell_id, "error": f"unknown: its error.json was damaged (moved to {target})"}
        return error

    def _move_damaged(self, path: Path, stage: str, cell_id: str) -> Path:
        target = self.root / "damaged" / stage / f"{cell_id}.{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except FileNotFoundError:  # another reader moved it first
            pass
        return target

    def done_records(self, stage: str):
        """Every finished record of a stage (cells without ``done`` are skipped: they are not whole). A record that
        does not parse (a truncated copy, a full disk) or lacks its keys is skipped too and its path added to
        ``self.damaged``."""
        stage_dir = self.root / stage
        if not stage_dir.is_dir():
            return
        for directory in sorted(stage_dir.iterdir()):
            if (directory / DONE).exists():
                record = read_json(directory / RECORD, keys_of(stage))
                if record is None:
                    self.damaged.append(directory / RECORD)
                    continue
                yield record

    def set_aside_damaged(self, stage: str, cell_ids) -> list[Path]:
        """Done cells whose record does not parse or lacks its keys become not done: the record moves to
        ``<runs>/damaged/<stage>/<cell id>.record.json`` (kept for a look) and ``done`` is removed, so the next run
        makes the cell again. Returns where the records went."""
        moved = []
        for cell_id in cell_ids:
            directory = self.cell_dir(stage, cell_id)
            if (directory / DONE).exists() and read_json(directory / RECORD, keys_of(stage)) is None:
                moved.append(self._move_damaged(directory / RECORD, stage, cell_id))
                (directory / DONE).unlink()
        return moved


    def record_plan(self, grid_name: str, plan: dict) -> None:
        """Keep which cells a grid run into this folder asks for (``status RUNS`` reads it back without the grid's
        flags); a later run of the same grid name replaces it."""
        atomic_write_json(self.root / PLANS / f"{grid_name}.json", plan)

    def plans(self) -> list[dict]:
        """The plans of every grid run into this folder, oldest first (unreadable ones skipped)."""
        files = sorted((self.root / PLANS).glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
        return [plan for plan in map(read_json, files) if plan is not None]

    def cell_ids(self, stage: str) -> list[str]:
        """Every cell folder of a stage, finished or not."""
        stage_dir = self.root / stage
        return sorted(p.name for p in stage_dir.iterdir() if p.is_dir()) if stage_dir.is_dir() else []


def keys_of(stage: str) -> tuple[str, ...]:
    """The keys every whole record of ``stage`` has."""
    return STAGE_KEYS.get(stage, RECORD_KEYS)


def read_json(path: Path, keys=()) -> dict | None:
    """A JSON object from ``path``, or None when the file is missing, not UTF-8, not a whole JSON object or without
    one of ``keys``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and all(key in data for key in keys) else None
