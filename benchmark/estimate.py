"""Time estimates for a dry run: the median wall time of finished cells of the same kind in the store
(same stage, task, method, DPC and learner; failing that, any method with the same task, DPC and
learner, since an evaluate cell's cost is mostly the learner's)."""
from __future__ import annotations

import statistics


def _kind(stage: str, config: dict) -> tuple:
    learner = config.get("learner", {}).get("name") if stage == "evaluate" else None
    return stage, config["task"]["name"], config["method"]["name"], config.get("dpc"), learner


def estimate_seconds(store, stage: str, cells: list) -> tuple[float, int]:
    """(estimated seconds for ``cells``, how many of them had a finished counterpart to go by)."""
    seen: dict[tuple, list[float]] = {}
    for record in store.done_records(stage):
        kind = _kind(stage, record["config"])
        seen.setdefault(kind, []).append(record["wall_s"])
        seen.setdefault(kind[:2] + ("*",) + kind[3:], []).append(record["wall_s"])
    total, known = 0.0, 0
    for cell in cells:
        kind = _kind(stage, cell.config)
        times = seen.get(kind) or seen.get(kind[:2] + ("*",) + kind[3:])
        if times:
            total += statistics.median(times)
            known += 1
    return total, known
