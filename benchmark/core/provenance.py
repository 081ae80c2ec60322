"""Where a number came from: package versions, the git commit of this code, the host, peak memory."""
from __future__ import annotations

import functools
import platform
import resource
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = ("dilm-bench", "torch", "transformers", "scikit-learn", "numpy", "pandas", "datasets", "submitit")


@functools.lru_cache(maxsize=None)
def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that can change a result (None when absent)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.lru_cache(maxsize=None)
def git_state() -> dict[str, str | bool | None]:
    """The git commit of the code that ran, and whether its tracked files had uncommitted changes."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"commit": commit, "dirty": dirty}


def code_version() -> str:
    """A short label of the code: package version + commit (+ '-dirty')."""
    state = git_state()
    version = package_versions().get("dilm-bench") or "unknown"
    if not state["commit"]:
        return version
    return f"{version}+g{state['commit'][:10]}{'-dirty' if state['dirty'] else ''}"


def host() -> dict[str, str]:
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "executable": sys.executable}


class PeakMemory:
    """Peak resident memory (MiB) of this process during a block of work.

    Linux lets a process reset its high-water mark (write 5 to /proc/self/clear_refs), so the peak is
    per cell even in a long-lived process; elsewhere it falls back to the process-lifetime peak.
    CUDA peak allocation is added when a GPU was used.
    """

    def __enter__(self) -> "PeakMemory":
        self.per_cell = _reset_rss_peak()
        self._cuda = _cuda_ready()
        if self._cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        self.rss_mib = _rss_peak_mib()
        self.cuda_mib = None
        if self._cuda:
            import torch

            self.cuda_mib = torch.cuda.max_memory_allocated() / 2**20

    def as_dict(self) -> dict:
        return {"peak_rss_mib": round(self.rss_mib, 1), "rss_peak_scope": "cell" if self.per_cell else "process",
                "peak_cuda_mib": None if self.cuda_mib is None else round(self.cuda_mib, 1)}


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cuda_ready() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized())


def shown(value):
    """A record's value as published (a cell page, ``runs.csv``): absolute paths (a custom task's spec, the
    interpreter) cut to their last two parts, so a committed report names no folder of the machine that ran it."""
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    if isinstance(value, str) and value.startswith("/") and "/" in value[1:]:
        return ".../" + "/".join(Path(value).parts[-2:])
    return value
