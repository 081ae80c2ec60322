"""Time estimates for a dry run: the median wall time of finished cells of the same kind in the store
(same stage, task, method, DPC and learner; for an evaluate cell failing that, any method with the
same task, DPC and learner, since its cost is mostly the learner's; failing that, the same at the
nearest finished DPC scaled in proportion to the DPC, since a learner's batch and a method's candidates
grow with it: an upper bound when scaled up, as a cell's fixed costs do not grow); else the prior
guesses of ``cost_priors.yaml`` (per stage, by method or learner), reported apart."""
from __future__ import annotations

import statistics
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

PRIORS = Path(__file__).parent / "cost_priors.yaml"


@lru_cache(maxsize=1)
def priors() -> dict:
    from benchmark.core.yamlfile import read_yaml

    return read_yaml(PRIORS, "cost priors")


def prior_seconds(stage: str, config: dict) -> float:
    """The prior guess for one cell: by learner for evaluate cells, by method otherwise."""
    table = priors()[stage]
    name = config["learner"]["name"] if stage == "evaluate" else config["method"]["name"]
    return float(table.get(name, table["default"]))


def _kinds(stage: str, config: dict) -> list[tuple]:
    """The kinds a cell is timed by, closest first: its task, method and learner; for an evaluate cell also its task
    and learner with any method (its cost is mostly the learner's)."""
    learner = config.get("learner", {}).get("name") if stage == "evaluate" else None
    exact = (config["task"]["name"], config["method"]["name"], learner)
    return [exact, (exact[0], "*", learner)] if stage == "evaluate" else [exact]


class Estimate(NamedTuple):
    seconds: float  # from finished counterparts
    known: int  # cells with a finished counterpart
    prior_seconds: float  # prior guesses for the others
    scaled: int  # of the known, those whose counterpart ran at another DPC


def _cell_seconds(seen: dict, kinds: list[tuple], dpc) -> tuple[float | None, bool]:
    """(seconds, whether scaled from another DPC): the median of the closest kind at this DPC, else of the loosest
    kind at the nearest finished DPC times the DPC ratio; None when neither has finished or the cell has no DPC."""
    for kind in kinds:
        if dpc in seen.get(kind, {}):
            return statistics.median(seen[kind][dpc]), False
    by_dpc = seen.get(kinds[-1], {})
    finished = [d for d in by_dpc if isinstance(d, int)]
    if not isinstance(dpc, int) or not finished:
        return None, False
    nearest = min(finished, key=lambda d: (abs(d - dpc), d))
    return statistics.median(by_dpc[nearest]) * dpc / nearest, True


def estimate_seconds(store, stage: str, cells: list) -> Estimate:
    """The seconds the ``cells`` of ``stage`` are expected to take, from finished counterparts or the priors."""
    seen: dict[tuple, dict] = {}  # kind -> DPC -> wall times of its finished cells
    for record in store.done_records(stage):
        for kind in _kinds(stage, record["config"]):
            seen.setdefault(kind, {}).setdefault(record["config"].get("dpc"), []).append(record["wall_s"])
    total, known, prior, scaled = 0.0, 0, 0.0, 0
    for cell in cells:
        seconds, from_other_dpc = _cell_seconds(seen, _kinds(stage, cell.config), cell.config.get("dpc"))
        if seconds is None:
            prior += prior_seconds(stage, cell.config)
            continue
        total += seconds
        known += 1
        scaled += from_other_dpc
    return Estimate(total, known, prior, scaled)
