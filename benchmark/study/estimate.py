"""Time estimates for a dry run: the median wall time of finished cells of the same kind in the store
(same stage, task, method, DPC and learner; failing that, any method with the same task, DPC and
learner, since an evaluate cell's cost is mostly the learner's); else the prior guesses of
``cost_priors.yaml`` (per stage, by method or learner), reported apart."""
from __future__ import annotations

import statistics
from functools import lru_cache
from pathlib import Path

PRIORS = Path(__file__).parent / "cost_priors.yaml"


@lru_cache(maxsize=1)
def priors() -> dict:
    import yaml

    return yaml.safe_load(PRIORS.read_text())


def prior_seconds(stage: str, config: dict) -> float:
    """The prior guess for one cell: by learner for evaluate cells, by method otherwise."""
    table = priors()[stage]
    name = config["learner"]["name"] if stage == "evaluate" else config["method"]["name"]
    return float(table.get(name, table["default"]))


def _kind(stage: str, config: dict) -> tuple:
    learner = config.get("learner", {}).get("name") if stage == "evaluate" else None
    return stage, config["task"]["name"], config["method"]["name"], config.get("dpc"), learner


def estimate_seconds(store, stage: str, cells: list) -> tuple[float, int, float]:
    """(estimated seconds from finished counterparts, how many cells had one, prior seconds for the rest)."""
    seen: dict[tuple, list[float]] = {}
    for record in store.done_records(stage):
        kind = _kind(stage, record["config"])
        seen.setdefault(kind, []).append(record["wall_s"])
        seen.setdefault(kind[:2] + ("*",) + kind[3:], []).append(record["wall_s"])
    total, known, prior = 0.0, 0, 0.0
    for cell in cells:
        kind = _kind(stage, cell.config)
        times = seen.get(kind) or seen.get(kind[:2] + ("*",) + kind[3:])
        if times:
            total += statistics.median(times)
            known += 1
        else:
            prior += prior_seconds(stage, cell.config)
    return total, known, prior
