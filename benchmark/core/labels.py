"""How a method or learner is named in tables and records: its (display) name and the hyper-parameters given."""
from __future__ import annotations

HIDDEN_PARAMS = ("label", "path", "source_task")  # say where a set came from, not how it was made


def component_label(name: str, params: dict, display: str | None = None) -> str:
    """A row or column label: the name (or a display name) and any hyper-parameters given."""
    shown = {k: v for k, v in params.items() if k not in HIDDEN_PARAMS}
    text = display or name
    return text + (" (" + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) + ")" if shown else "")


def pair_status(kind: str, method_space: str | None, accepts, learner_space: str | None) -> str:
    """How a (method, learner) pair shows in tables: "run"; "n/a" (a kind of set the learner cannot train on, or an
    embedding-level set outside the learner's space); or "hidden" (a demonstration-free row such as zero-shot,
    under a learner that trains). One rule for the grid (which cells to make) and the report (which holes are n/a)."""
    if kind in accepts and (kind != "embedding" or method_space == learner_space):
        return "run"
    return "hidden" if kind == "empty" else "n/a"
