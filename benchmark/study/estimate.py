"""Time estimates for a dry run: the median wall time of finished cells of the same kind in the store
(same stage, task, method, DPC and learner; for an evaluate cell failing that, any method with the
same task, DPC and learner, since its cost is mostly the learner's; failing that, the same at the
nearest finished DPC scaled in proportion to the DPC, since a learner's batch and a method's candidates
grow with it: an upper bound when scaled up, as a cell's fixed costs do not grow); else the prior guesses of ``cost_priors.yaml`` (per stage, by method or learner), reported apart."""
from __future__ import annotations

import statistics
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

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


class Estimate(NamedTuple):
    seconds: float  # from finished counterparts
    known: int  # cells with a finished counterpart
    prior_seconds: float  # prior guesses for the others
    scaled: int  # of the known, those whose counterpart ran at another DPC


def _loose(kind: tuple) -> tuple:
    """The kind an evaluate cell borrows from: any method (its cost is mostly the learner's); other stages: itself."""
    return kind[:2] + ("*",) + kind[3:] if kind[0] == "evaluate" else kind


def _scaled_from_nearest_dpc(seen: dict, kind: tuple) -> float | None:
    """The median of the finished cells of the loose kind at the nearest other DPC, times the DPC ratio; None when
    none has finished or the cell has no DPC."""
    loose, dpc = _loose(kind), kind[3]
    finished = [k[3] for k in seen if isinstance(k[3], int) and k[:3] + k[4:] == loose[:3] + loose[4:]]
    if not isinstance(dpc, int) or not finished:
        return None
    nearest = min(finished, key=lambda d: (abs(d - dpc), d))
    return statistics.median(seen[loose[:3] + (nearest,) + loose[4:]]) * dpc / nearest


def estimate_seconds(store, stage: str, cells: list) -> Estimate:
    """The seconds the ``cells`` of ``stage`` are expected to take, from finished counterparts or the priors."""
    seen: dict[tuple, list[float]] = {}
    for record in store.done_records(stage):
        kind = _kind(stage, record["config"])
        for key in {kind, _loose(kind)}:
            seen.setdefault(key, []).append(record["wall_s"])
    total, known, prior, scaled = 0.0, 0, 0.0, 0
    for cell in cells:
        kind = _kind(stage, cell.config)
        times = seen.get(kind) or seen.get(_loose(kind))
        seconds = statistics.median(times) if times else _scaled_from_nearest_dpc(seen, kind)
        if seconds is None:
            prior += prior_seconds(stage, cell.config)
            continue
        total += seconds
        known += 1
        scaled += not times
    return Estimate(total, known, prior, scaled)
