"""The user cache and the build-once rule for what is built there (converted models, embeddings, generators).

Everything else builds on these three functions; they import nothing of ours.
"""
from __future__ import annotations

import contextlib
import contextvars
import fcntl
import glob
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.core.durable import fsync_tree, set_aside


def cache_root() -> Path:
    """``$DILM_BENCH_CACHE``, else ``$XDG_CACHE_HOME/dilm-bench``, else ``~/.cache/dilm-bench``."""
    if os.environ.get("DILM_BENCH_CACHE"):
        return Path(os.environ["DILM_BENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dilm-bench"


def artifact_root() -> Path:
    """Where methods keep what they build and share between cells (generators, embeddings, TDD sets):
    ``$DILM_BENCH_ARTIFACTS``, else the user cache. A rehearsal points it at its own runs folder, so each
    rehearsal measures cold builds."""
    return Path(os.environ["DILM_BENCH_ARTIFACTS"]) if os.environ.get("DILM_BENCH_ARTIFACTS") else cache_root()


BUILD_COST = ".build.json"  # in a built artifact: how long its build took, for the cells that reuse it
_LEDGER: contextvars.ContextVar[list | None] = contextvars.ContextVar("artifact_ledger", default=None)
_BUILDING: contextvars.ContextVar[str | None] = contextvars.ContextVar("artifact_building", default=None)


@contextlib.contextmanager
def artifact_ledger():
    """Collect, while it is open, every artifact that ``build_once`` (or ``note_artifact``) built or reused: the
    runner stores the list in the cell's record, so a reused artifact's cost can be shared by every method that
    needs it, not charged to whichever cell happened to build it."""
    entries: list[dict] = []
    token = _LEDGER.set(entries)
    try:
        yield entries
    finally:
        _LEDGER.reset(token)


def _artifact_name(path: Path) -> tuple[str, str]:
    """(kind, name) of an artifact: its cache kind (dilm, tdd, embeddings, models...) and ``kind/folder-or-file``;
    a file deeper in its kind (a candidate chunk) keeps the path below its kind's sub-folder, so names stay unique."""
    path = Path(path)
    try:
        parts = path.relative_to(artifact_root()).parts
    except ValueError:
        return path.parent.name, f"{path.parent.name}/{path.name}"
    return parts[0], "/".join([parts[0], *(parts[2:] or parts[-1:])])


def note_artifact(path: Path, built: bool, build_s: float | None) -> None:
    """Add an artifact to the open ledger (if any): its cache kind and name, whether that kind is shared by methods
    (``cache_kind``), whether this cell built it, the
    seconds its build took (whoever built it; None when unknown, e.g. built before builds were timed) and, for a
    build inside another build (DiLM's stage 2 embedding its teacher), the outer one, whose seconds include it."""
    entries = _LEDGER.get()
    if entries is None:
        return
    kind, name = _artifact_name(path)
    if all(entry["artifact"] != name for entry in entries):
        shared = kind in CACHE_KINDS and CACHE_KINDS[kind].shared
        entries.append({"artifact": name, "kind": kind, "shared": shared, "built": built,
                        "build_s": None if build_s is None else round(build_s, 3),
                        "within": _BUILDING.get() if built else None})


def file_build_seconds(path: Path, seconds: float | None = None) -> float | None:
    """The build seconds of a single-file artifact (a cached embedding matrix), kept beside the cache kinds in
    ``<artifact root>/.builds/`` so the kind's folder holds only artifacts; with ``seconds``, stores them."""
    kind, name = _artifact_name(path)
    record = artifact_root() / ".builds" / f"{name}.json"
    if seconds is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"build_s": round(seconds, 3)}))
        return seconds
    try:
        return json.loads(record.read_text())["build_s"]
    except (OSError, ValueError, KeyError):
        return None


def _build_seconds(target: Path) -> float | None:
    try:
        return json.loads((target / BUILD_COST).read_text())["build_s"]
    except (OSError, ValueError, KeyError):
        return None


def build_once(target: Path, marker: str, build) -> Path:
    """``target`` (a folder holding ``marker`` when complete), made at most once across processes: under a
    file lock beside it, ``build(staging)`` fills a fresh staging folder, which then lands by an atomic
    rename (its files fsynced first). Concurrent callers wait and reuse it; a killed build leaves no partial
    ``target`` (its staging folder is swept by the next build of the target). The build's seconds are kept in it
    (``BUILD_COST``) and every call is noted in the open artifact ledger."""
    if (target / marker).exists():
        note_artifact(target, False, _build_seconds(target))
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / marker).exists():  # built by another process while we waited
            note_artifact(target, False, _build_seconds(target))
            return target
        for stale in target.parent.glob(f"{glob.escape('.' + target.name)}.staging.*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging."))
        building = _BUILDING.set(_artifact_name(target)[1])
        try:
            t0 = time.perf_counter()
            build(staging)
            seconds = time.perf_counter() - t0
            (staging / BUILD_COST).write_text(json.dumps({"build_s": round(seconds, 3)}))
            fsync_tree(staging)  # on disk before the rename publishes it
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            _BUILDING.reset(building)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    note_artifact(target, True, seconds)
    return target


def load_built(target: Path, marker: str, build, load):
    """``load(target)`` of the folder that ``build_once(target, marker, build)`` makes; a folder that no longer loads
    (damaged after its build: a truncated file, a full disk) is set aside with a warning and built again."""
    build_once(target, marker, build)
    try:
        return load(target)
    except Exception as exc:  # whatever the reader raises: the folder is not whole
        set_aside(target, f"does not load ({type(exc).__name__}: {str(exc)[:120]})")
    build_once(target, marker, build)
    return load(target)


@dataclass(frozen=True)
class CacheKind:
    """A folder of the user cache: what it holds, and whether methods build it and cells share it (``shared``: its
    builds count in the costs of the methods that use them) or it is set-up (converted models, split indices)."""

    holds: str
    shared: bool = False


CACHE_KINDS: dict[str, CacheKind] = {}  # declared by the module that builds each kind (``cache_kind``)


def cache_kind(name: str, holds: str, shared: bool = False) -> str:
    """Declare the cache folder ``name`` (for ``cache list/clear`` and the records' artifact ledger); returns it."""
    CACHE_KINDS[name] = CacheKind(holds, shared)
    return name


def cache_usage() -> list[tuple[str, Path, int, int, str]]:
    """Each declared kind of the user cache, by name: (kind, folder, bytes, entries, what it holds)."""
    rows = []
    for kind, what in sorted((kind, declared.holds) for kind, declared in CACHE_KINDS.items()):
        folder = cache_root() / kind
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
        entries = len([p for p in folder.iterdir() if not p.name.startswith(".")]) if folder.is_dir() else 0
        rows.append((kind, folder, size, entries, what))
    return rows


def clear_cache(kinds: list[str]) -> list[Path]:
    """Remove the folders of ``kinds`` (``all``: every kind); they are rebuilt on use. Unknown kinds raise
    before anything is removed."""
    from benchmark.core.errors import UsageError, did_you_mean

    if not kinds:
        raise UsageError(f"cache clear needs the kinds to remove: {', '.join(CACHE_KINDS)} or all")
    kinds = list(CACHE_KINDS) if "all" in kinds else kinds
    unknown = [k for k in kinds if k not in CACHE_KINDS]
    if unknown:
        raise UsageError(f"unknown cache kind(s) {', '.join(unknown)}{did_you_mean(unknown[0], CACHE_KINDS)}; "
                         f"kinds: {', '.join(CACHE_KINDS)}, all")
    for kind in kinds:
        shutil.rmtree(cache_root() / kind, ignore_errors=True)
    return [cache_root() / kind for kind in kinds]
