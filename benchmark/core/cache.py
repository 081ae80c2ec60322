"""The user cache and the build-once rule for what is built there (converted models, embeddings, generators).

Everything else builds on these three functions; they import nothing of ours.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path


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


def build_once(target: Path, marker: str, build) -> Path:
    """``target`` (a folder holding ``marker`` when complete), made at most once across processes: under a
    file lock beside it, ``build(staging)`` fills a fresh staging folder, which then lands by an atomic
    rename. Concurrent callers wait and reuse it; a killed build leaves no partial ``target``."""
    if (target / marker).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / marker).exists():  # built by another process while we waited
            return target
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging."))
        try:
            build(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target
