"""Time estimates for a dry run: the median wall time of finished cells of the same kind in the store
(same stage, task, method, DPC and learner; for an evaluate cell failing that, any method with the
same task, DPC and learner, since its cost is mostly the learner's; failing that, the same at the
nearest finished DPC scaled in proportion to the DPC, since a learner's batch and a method's candidates
grow with it: an upper bound when scaled up, as a cell's fixed costs do not grow); else the grid's committed
rehearsal (``results/<grid>-rehearsal/``: each cell kind's projected seconds on the real models), the same numbers
the rehearsal's total adds up; else the prior guesses of ``cost_priors.yaml`` (per stage, by method or learner),
reported apart."""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

PRIORS = Path(__file__).parent / "cost_priors.yaml"
REHEARSALS = Path(__file__).resolve().parents[2] / "results"  # this checkout's committed studies
ANY = "*"  # a rehearsal table's row stands for every DPC (and, "on text sets", every text method)


@lru_cache(maxsize=1)
def priors() -> dict:
    from benchmark.core.yamlfile import read_yaml

    return read_yaml(PRIORS, "cost priors")


def prior_gpu() -> str:
    """The GPU the priors' model-stage guesses assume (one per cell), named by the dry run."""
    return str(priors()["gpu"])


def uses_gpu(stage: str, config: dict) -> bool:
    """Whether a cell runs on a GPU where there is one: an evaluate cell by its learner, a fit or distill cell by its
    method (their ``uses_gpu``); a dry run counts the others in CPU hours."""
    if stage == "evaluate":
        from benchmark.learners import LEARNERS

        return LEARNERS.get(config["learner"]["name"]).uses_gpu
    from methods import METHODS

    return METHODS.get(config["method"]["name"]).uses_gpu


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


@dataclass(frozen=True)
class Rehearsed:
    """A grid's committed rehearsal: projected seconds per cell, by (stage, task, method, learner, DPC)."""

    source: str  # the file read
    gpu: str
    seconds: dict

    def cell_seconds(self, stage: str, config: dict) -> float | None:
        from methods import METHODS

        task, method = config["task"]["name"], config["method"]["name"]
        learner = config["learner"]["name"] if stage == "evaluate" else None
        sets = "text" if METHODS.get(method).kind == "text" else method
        for key in ((stage, task, method, learner, config.get("dpc")), (stage, task, method, learner, ANY),
                    (stage, task, sets, learner, ANY)):
            if key in self.seconds:
                return self.seconds[key]
        return None


def committed_rehearsal(grid_name: str, root: Path = REHEARSALS) -> Rehearsed | None:
    """The rehearsal of grid ``grid_name`` committed under ``root`` (``<grid>-rehearsal/``): its ``rehearsal.json``'s
    per-cell costs, or, for a rehearsal made before they were written, its table's rows (each row's total over its
    cells); None when there is none."""
    folder = root / f"{grid_name}-rehearsal"
    shown = folder.relative_to(root.parent) if folder.is_relative_to(root.parent) else folder
    if not (folder / "rehearsal.json").is_file():
        return None
    meta = json.loads((folder / "rehearsal.json").read_text(encoding="utf-8"))
    if meta.get("grid") != grid_name:
        return None
    if "costs" in meta:
        seconds = {(c["stage"], c["task"], c["method"], c["learner"], c["dpc"]): c["seconds"] for c in meta["costs"]}
        return Rehearsed(str(shown / "rehearsal.json"), meta["gpu"]["name"], seconds)
    seconds = {}
    with open(folder / "rehearsal.csv", encoding="utf-8") as table:
        for row in csv.DictReader(table):
            cells, words = int(row["cells in grid"]), row["stage"].split(" ")
            if not cells or words[0] not in ("fit", "distill", "evaluate"):
                continue
            hours = float(row["GPU h, all cells"]) + float(row["node CPU h, all cells"])
            key = ((words[0], row["task"], words[3], words[1], ANY) if words[0] == "evaluate"
                   else (words[0], row["task"], words[1], None, ANY))
            seconds[key] = hours * 3600 / cells
    return Rehearsed(str(shown / "rehearsal.csv"), meta["gpu"]["name"], seconds)


class Estimate(NamedTuple):
    seconds: float  # from finished counterparts
    known: int  # cells with a finished counterpart
    prior_seconds: float  # prior guesses for the others
    scaled: int  # of the known, those whose counterpart ran at another DPC
    rehearsed_seconds: float = 0.0  # from the grid's committed rehearsal
    rehearsed: int = 0  # cells estimated from it


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


def finished_times(store, stage: str) -> dict[tuple, dict]:
    """kind -> DPC -> wall times of the finished cells of ``stage`` in ``store`` (what estimates are made from)."""
    seen: dict[tuple, dict] = {}
    for record in store.done_records(stage):
        for kind in _kinds(stage, record["config"]):
            seen.setdefault(kind, {}).setdefault(record["config"].get("dpc"), []).append(record["wall_s"])
    return seen


def estimate_seconds(store, stage: str, cells: list, rehearsal: Rehearsed | None = None,
                     seen: dict | None = None) -> Estimate:
    """The seconds the ``cells`` of ``stage`` are expected to take, from finished counterparts, else the grid's
    ``rehearsal``, else the priors; ``seen``: the store's :func:`finished_times`, when already read."""
    seen = finished_times(store, stage) if seen is None else seen
    total, known, prior, scaled, rehearsed, from_rehearsal = 0.0, 0, 0.0, 0, 0.0, 0
    for cell in cells:
        seconds, from_other_dpc = _cell_seconds(seen, _kinds(stage, cell.config), cell.config.get("dpc"))
        if seconds is None:
            projected = rehearsal.cell_seconds(stage, cell.config) if rehearsal else None
            if projected is None:
                prior += prior_seconds(stage, cell.config)
            else:
                rehearsed += projected
                from_rehearsal += 1
            continue
        total += seconds
        known += 1
        scaled += from_other_dpc
    return Estimate(total, known, prior, scaled, rehearsed, from_rehearsal)
