"""The report's inputs, read from the store: one row per finished evaluate run, failed cell and measured text set,
and each method's costs; rows carry what the records say about their method and learner (``described``)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import UsageError
from benchmark.core.labels import component_label
from benchmark.study.store import ERROR, ERROR_KEYS, FIDELITY, Store, read_json

log = logging.getLogger(__name__)


REFERENCE_LABELS = {"full": "Full dataset", "random": "Random", "zero-shot": "Zero-shot"}  # their rows' table labels
REFERENCE_NOTES = {"full": "Full dataset (reference row) = the whole train split.",
                   "random": "Random (reference row) = DPC real examples per class drawn uniformly.",
                   "zero-shot": "Zero-shot (reference row of ICL tables) = the query alone, no demonstrations."}
ROLES = ("baseline", "upper_bound")  # the reference flags a row's method carries (``methods.base.Method``)
LEGACY_ROLES = {"random": "baseline", "full": "upper_bound"}  # the registry names that held the roles before records said


def with_roles(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each row's ``baseline`` and ``upper_bound`` flags as its record described them; rows written
    before records carried them (older records and runs.csv files: no value) get the roles their method's registry
    name had then. The one place old rows are read by name."""
    frame = frame.copy()
    for role in ROLES:
        legacy = frame["method_name"].map(lambda name: LEGACY_ROLES.get(name) == role).astype(bool)
        said = frame[role] if role in frame else pd.Series(None, index=frame.index, dtype=object)
        frame[role] = said.where(said.notna(), legacy).astype(bool)
    return frame


def described(record: dict) -> tuple[dict, dict]:
    """(method, learner) as the record describes them (``benchmark.study.describe``); a record written before records
    carried descriptions (schema 1) gets plain names, no reference flag and text sets."""
    config, said = record["config"], record.get("described") or {}
    method = said.get("method") or {"label": component_label(config["method"]["name"], config["method"]["params"]),
                                    "reference": False, "kind": "text", "citation": None, "embedding_space": None}
    learner = said.get("learner")
    if learner is None and "learner" in config:
        learner = {"label": component_label(config["learner"]["name"], config["learner"]["params"]),
                   "family": record.get("learner_family", "fine-tuned"), "accepts": ["text"], "embedding_space": None}
    return method, learner or {}


def _row(record: dict) -> dict:
    config = record["config"]
    method, learner = described(record)
    return {
        "cell_id": record["cell_id"], "task": record.get("task", {}).get("name", config["task"]["name"]),
        "method": method["label"], "reference": method["reference"],
        **{role: method.get(role) for role in ROLES},  # None in records from before roles: ``with_roles``
        "method_name": config["method"]["name"], "method_params": json.dumps(config["method"]["params"], sort_keys=True),
        "method_kind": method["kind"], "method_space": method["embedding_space"], "citation": method["citation"],
        "dpc": config["dpc"], "set_seed": config["set_seed"], "fit_seed": config["fit_seed"],
        "learner": learner["label"], "learner_name": config["learner"]["name"],
        "learner_params": json.dumps(config["learner"]["params"], sort_keys=True),
        "learner_accepts": tuple(learner["accepts"]), "learner_space": learner["embedding_space"],
        "run": config.get("run"), "eval_seed": config.get("eval_seed"), "described": "described" in record,
    }


def load_records(runs_dir: Path | str, cell_ids: set[str] | None = None, grid: str | None = None) -> pd.DataFrame:
    """One row per finished evaluate run: its config flattened, metrics, checksums, costs, versions (the columns and
    their units: docs/records.md). ``grid``: only the evaluate cells that grid asked for (the plan ``run`` keeps in
    ``<runs>/grids/``), for a folder that several grids were run into."""
    rows = []
    store = Store(Path(runs_dir))
    if grid is not None:
        asked = grid_cells(store, grid)
        cell_ids = asked if cell_ids is None else set(cell_ids) & asked
    for record in store.done_records("evaluate"):
        if cell_ids is not None and record["cell_id"] not in cell_ids:
            continue
        rows.append({**_row(record), "metric": record["task"]["metric"],
                     "learner_family": record.get("learner_family", "fine-tuned"),
                     **{f"metric.{k}": v for k, v in record["metrics"].items()},
                     **{f"checksum.{k}": v for k, v in record["task"]["split_checksums"].items()},
                     **{f"recipe.{k}": v for k, v in record.get("recipe", {}).items()},
                     "queries_cut": record.get("learner_details", {}).get("queries_truncated", 0),
                     "precision": _precision(record),
                     "wall_s": record["wall_s"], "peak_rss_mib": record["memory"]["peak_rss_mib"],
                     "code_version": record["code_version"], "git_commit": record["git"]["commit"],
                     **_provenance(record)})
    frame = pd.DataFrame(rows)
    frame.attrs["damaged"] = [str(path) for path in store.damaged]
    for path in store.damaged:
        log.warning("skipped a damaged record (not a whole JSON object): %s; `run` makes its cell again", path)
    return frame


def grid_cells(store: Store, grid: str) -> set[str]:
    """The evaluate cell ids grid ``grid`` asked for in ``store``'s folder, from its plan; an unknown name is an error
    naming the grids the folder holds."""
    plans = {plan.get("name"): plan for plan in store.plans()}
    if grid not in plans:
        held = ", ".join(repr(name) for name in sorted(plans, key=str)) or "none (its runs predate the plans `run` keeps)"
        raise UsageError(f"no grid {grid!r} was run into {store.root}: the grids it holds are {held}; pass one of "
                         f"them as grid=..., or none for every run of the folder")
    return set(plans[grid].get("cells", {}).get("evaluate", {}))


def _provenance(record: dict) -> dict:
    """What a run's row keeps of its record besides the scores, so that the row alone (``runs.csv``, carried to
    another report) traces the number: config, seeds, set, versions, host, when, the stack it trained in."""
    return {"distill_cell": record.get("distill_cell"), "config": record["config"],
            "recipe": record.get("recipe", {}), "seeds": record.get("seeds", {}), "versions": record.get("versions", {}),
            "host": record.get("host", {}), "git_dirty": bool(record["git"].get("dirty")),
            "started_at": record.get("started_at"), "stack": record.get("stack"), "carried_from": None}


def _precision(record: dict) -> str:
    """The precision a fine-tuned run stepped in (``auto`` resolved on its machine: bf16 or fp32), "" for others."""
    return record.get("learner_details", {}).get("precision") or record.get("recipe", {}).get("precision") or ""


def load_failures(runs_dir: Path, cell_ids: set[str] | None = None) -> pd.DataFrame:
    """One row per failed evaluate cell (``error.json`` and no ``done``), with its first error line."""
    rows = []
    stage_dir = Path(runs_dir) / "evaluate"
    for path in sorted(stage_dir.glob(f"*/{ERROR}")) if stage_dir.is_dir() else []:
        if (path.parent / "done").exists():
            continue
        record = read_json(path, (*ERROR_KEYS, "cell_id", "config"))
        if record is None:  # `run` and `status` move it aside (``Store.error``); the cell is run again
            log.warning("skipped a damaged error.json (not a whole JSON object with its keys): %s", path)
            continue
        if cell_ids is None or record["cell_id"] in cell_ids:
            rows.append({**_row(record), "error": record["error"].splitlines()[0]})
    return pd.DataFrame(rows, columns=["cell_id", "task", "method", "reference", *ROLES, "method_name", "method_params",
                                       "method_kind", "method_space", "citation", "dpc", "set_seed", "learner",
                                       "learner_name", "learner_params", "learner_accepts", "learner_space", "run",
                                       "eval_seed", "described", "error"])


def load_fidelity(runs_dir: Path, cell_ids: set[str] | None = None) -> pd.DataFrame:
    """One row per measured text set (``benchmark.study.fidelity``): on-label share, test overlap, diversity."""
    rows = []
    for record in Store(Path(runs_dir)).done_records(FIDELITY):
        if cell_ids is not None and record["distill_cell"] not in cell_ids:
            continue
        config = record["config"]
        method = described(record)[0]["label"]
        task = record.get("task", {}).get("name", config["task"].get("name"))  # a custom task's own name
        rows.append({"task": task, "method": REFERENCE_LABELS.get(method, method),
                     "dpc": config["dpc"], "fit_seed": config["fit_seed"], "set_seed": config["set_seed"],
                     "distill_cell": record["distill_cell"],
                     **{k: record[k] for k in ("n_texts", "on_label_share", "exact_test_duplicates",
                                               "near_test_duplicates", "overlap_share", "distinct_2",
                                               "mean_pairwise_distance")},
                     "candidate_on_label_share": record.get("candidate_on_label_share", np.nan),
                     "judge_validation_accuracy": record["judge"]["validation_accuracy"],
                     "judge_version": record["judge"].get("version", 1)})
    return pd.DataFrame(rows)


LEGACY_SHARED_KINDS = ("dilm", "tdd", "embeddings")  # shared cache kinds, for ledgers from before entries said so

COST_COLUMNS = ["task", "method", "n_fits", "fit_s", "distill_s", "evaluate_s", "peak_rss_mib", "built_s", "shared_s",
                "full_s", "untimed_builds", "gpu_s", "peak_cuda_mib"]


def load_costs(runs_dir: Path, cell_ids: set[str] | None = None, carried: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (task, method): its fits (``n_fits``: seeded methods fitted more than once), wall time of the fit cells
    (total over the fits), distill (mean per set) and evaluate (mean per run) cells and
    their peak memory; ``built_s``, the seconds its fit and distill cells spent building shared artifacts (generators,
    embeddings, TDD sets); ``shared_s``, its share of every shared artifact it used, whoever built it (each build
    split evenly among the methods of the task that used it); ``full_s`` = fit + every distill cell - built_s +
    shared_s, the method's whole cost, a lower bound when ``untimed_builds`` > 0 (shared artifacts it used whose build
    was not timed, e.g. built by an older version; clear the cache kind to time them); ``gpu_s`` and ``peak_cuda_mib``
    where a GPU ran. ``carried``: runs carried from another report (their evaluate seconds and memory count too)."""
    store = Store(Path(runs_dir))
    rows, uses = [], []
    for stage in ("fit", "distill", "evaluate"):
        for record in store.done_records(stage):
            if cell_ids is not None and record["cell_id"] not in cell_ids:
                continue
            config, memory = record["config"], record["memory"]
            key = {"task": record.get("task", {}).get("name", config["task"]["name"]),
                   "method": described(record)[0]["label"]}
            rows.append({**key, "stage": stage, "wall_s": record["wall_s"], "peak_rss_mib": memory["peak_rss_mib"],
                         "gpu_s": record["wall_s"] if memory.get("peak_cuda_mib") else 0.0,
                         "peak_cuda_mib": memory.get("peak_cuda_mib")})
            if stage != "evaluate":
                uses += [{**key, **artifact} for artifact in record.get("artifacts", [])  # model conversions: set-up
                         if artifact.get("shared", artifact["kind"] in LEGACY_SHARED_KINDS)]
    if carried is not None and not carried.empty:
        rows += [{"task": r.task, "method": r.method, "stage": "evaluate", "wall_s": r.wall_s,
                  "peak_rss_mib": r.peak_rss_mib, "gpu_s": 0.0, "peak_cuda_mib": None}
                 for r in carried.itertuples(index=False)]
    frame = pd.DataFrame(rows, columns=["task", "method", "stage", "wall_s", "peak_rss_mib", "gpu_s", "peak_cuda_mib"])
    if frame.empty:
        return pd.DataFrame(columns=COST_COLUMNS)
    groups = ["task", "method"]
    by_stage = {stage: frame[frame["stage"] == stage].groupby(groups)["wall_s"] for stage in ("fit", "distill", "evaluate")}
    costs = pd.DataFrame({"n_fits": by_stage["fit"].size(), "fit_s": by_stage["fit"].sum(),
                          "distill_s": by_stage["distill"].mean(),
                          "evaluate_s": by_stage["evaluate"].mean(),
                          "peak_rss_mib": frame.groupby(groups)["peak_rss_mib"].max(),
                          "gpu_s": frame.groupby(groups)["gpu_s"].sum(),
                          "peak_cuda_mib": frame.groupby(groups)["peak_cuda_mib"].max()}).reset_index()
    built, shared = _artifact_shares(pd.DataFrame(uses, columns=[*groups, "artifact", "kind", "built", "build_s",
                                                                 "within"]))
    costs["n_fits"] = costs["n_fits"].fillna(1).astype(int)
    costs = costs.merge(built, on=groups, how="left").merge(shared, on=groups, how="left")
    costs[["built_s", "shared_s", "untimed_builds"]] = costs[["built_s", "shared_s", "untimed_builds"]].fillna(0.0)
    costs["untimed_builds"] = costs["untimed_builds"].astype(int)
    own = frame[frame["stage"] != "evaluate"].groupby(groups)["wall_s"].sum().rename("own_s").reset_index()
    costs = costs.merge(own, on=groups, how="left")
    costs["full_s"] = costs["own_s"].fillna(0.0) - costs["built_s"] + costs["shared_s"]
    return costs[COST_COLUMNS]


def _artifact_shares(uses: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(task, method) -> seconds its cells spent building shared artifacts, and its share of the builds of all it
    used (an artifact's build time, less the builds nested in it, split evenly among the distinct methods of the
    task that used it) with the number of those whose build was not timed."""
    groups = ["task", "method"]
    if uses.empty:
        return pd.DataFrame(columns=[*groups, "built_s"]), pd.DataFrame(columns=[*groups, "shared_s", "untimed_builds"])
    timed = uses.groupby(["task", "artifact"])["build_s"].max()  # the same build for every user
    seconds = timed.fillna(0.0)
    inner = uses.dropna(subset=["within"]).drop_duplicates(["task", "artifact"])
    for row in inner.itertuples():  # a build inside another build: the outer one's seconds include it, count it once
        if (row.task, row.within) in seconds.index:
            seconds[(row.task, row.within)] -= seconds[(row.task, row.artifact)]
    seconds = seconds.rename("seconds")
    distinct = uses.drop_duplicates([*groups, "artifact"]).join(seconds, on=["task", "artifact"]).join(
        timed.isna().rename("untimed"), on=["task", "artifact"])
    users = distinct.groupby(["task", "artifact"])["method"].transform("nunique")
    distinct = distinct.assign(share=distinct["seconds"].fillna(0.0) / users)
    builders = uses[uses["built"]].drop_duplicates([*groups, "artifact"]).join(seconds, on=["task", "artifact"])
    built = builders.groupby(groups)["seconds"].sum().rename("built_s").reset_index()
    shared = distinct.groupby(groups).agg(shared_s=("share", "sum"), untimed_builds=("untimed", "sum")).reset_index()
    return built, shared
