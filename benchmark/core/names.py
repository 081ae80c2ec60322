"""Names that become file and folder names (tasks, grids, methods, learners, presets, export folders) are checked
once, where they are read: a name that could leave its folder (``../x``, ``/x``), hide in it (``.x``) or break it (a
NUL, a newline, 300 characters) is refused with exit 2, before anything is written."""
from __future__ import annotations

import re

from benchmark.core.errors import UsageError

MAX_LENGTH = 100
_SAFE = re.compile(r"[A-Za-z0-9._-]+")
RULE = (f"a name becomes a file name, so it may hold only letters, digits, '.', '_' and '-', at most {MAX_LENGTH} "
        f"characters, not starting with '.'")


def unsafe(name) -> str | None:
    """Why ``name`` cannot be a file name (None when it can)."""
    if not isinstance(name, str) or not name:
        return "not a non-empty text"
    if len(name) > MAX_LENGTH:
        return f"{len(name)} characters"
    if name.startswith("."):
        return "starts with '.'"
    if not _SAFE.fullmatch(name):
        bad = sorted({c for c in name if not _SAFE.fullmatch(c)})
        return "holds " + ", ".join(repr(c) for c in bad)
    return None


def safe_name(name, what: str, where: str = "") -> str:
    """``name`` when it is safe as a file name; else a UsageError naming ``what`` it is (task name, grid name...),
    ``where`` it was read (file and key), the rule and the name."""
    why = unsafe(name)
    if why is None:
        return name
    shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else f"{name[:40]!r}...({len(name)} characters)"
    raise UsageError(f"{where + ': ' if where else ''}{what} {shown} is not a safe name ({why}): {RULE}; "
                     f"rename it")
