"""The leaderboard: every record -> DataFrames -> paper-ready tables (markdown, LaTeX, CSV) and plots.

Main table per learner: rows = methods (then the reference block: Full dataset, Random; then the
paper's published numbers where the task is one of the paper's), columns = task x DPC, cells =
mean ± population std (n). Best per column in bold; Welch's t-test against Random and against the
runner-up; failed, missing and not-applicable cells shown and counted; mixed code versions flagged.
"""
from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.labels import component_label, pair_status
from benchmark.core.provenance import shown
from benchmark.report.carried import carried_fidelity, with_carried
from benchmark.report.published import LEARNER as PUBLISHED_LEARNER
from benchmark.report.published import SOURCE as PUBLISHED_SOURCE
from benchmark.report.published import published
from benchmark.study.store import ERROR, ERROR_KEYS, FIDELITY, Store, read_json

log = logging.getLogger(__name__)

ALPHA = 0.05
KEY = ["task", "learner", "method", "dpc"]


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
        "method_name": config["method"]["name"], "method_params": json.dumps(config["method"]["params"], sort_keys=True),
        "method_kind": method["kind"], "method_space": method["embedding_space"], "citation": method["citation"],
        "dpc": config["dpc"], "set_seed": config["set_seed"], "fit_seed": config["fit_seed"],
        "learner": learner["label"], "learner_name": config["learner"]["name"],
        "learner_params": json.dumps(config["learner"]["params"], sort_keys=True),
        "learner_accepts": tuple(learner["accepts"]), "learner_space": learner["embedding_space"],
        "run": config.get("run"), "eval_seed": config.get("eval_seed"), "described": "described" in record,
    }


def load_records(runs_dir: Path | str, cell_ids: set[str] | None = None) -> pd.DataFrame:
    """One row per finished evaluate run: its config flattened, metrics, checksums, costs, versions."""
    rows = []
    store = Store(Path(runs_dir))
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
    return pd.DataFrame(rows, columns=["cell_id", "task", "method", "reference", "method_name", "method_params",
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


def fidelity_tables(fidelity: pd.DataFrame) -> list[Table]:
    """Per task: rows = methods, per DPC the mean on-label share (%) and the share of texts overlapping the test
    split (%), over the cell's sets; where sets kept their candidate pools, the pools' on-label share too."""
    tables = []
    for task, part in (fidelity.groupby("task") if not fidelity.empty else ()):
        dpcs = sorted({int(d) for d in part["dpc"] if pd.notna(d)}) or [None]  # None: DPC-independent sets only
        pooled = part["candidate_on_label_share"].notna().any()  # some sets kept the candidates they came from
        measures = ["on-label", "test overlap"] + (["candidates on-label"] if pooled else [])
        columns = [what if d is None else f"DPC {d} {what}" for d in dpcs for what in measures]
        rows = []
        for method, rows_m in sorted(part.groupby("method")):
            cells = []
            for d in dpcs:
                at = rows_m if d is None else rows_m[(rows_m["dpc"] == d) | rows_m["dpc"].isna()]
                if not len(at):
                    cells += [Cell("-")] * len(measures)
                    continue
                cells += [Cell(f"{100 * at['on_label_share'].mean():.0f}%"),
                          Cell(f"{100 * at['overlap_share'].mean():.1f}%")]
                if pooled:
                    shares = at["candidate_on_label_share"].dropna()
                    cells.append(Cell(f"{100 * shares.mean():.0f}%" if len(shares) else "-"))
            rows.append((method, cells))
        judge = part["judge_validation_accuracy"].iloc[0]
        tables.append(Table(f"Fidelity of the text sets: {task} (judge: TF-IDF + logistic regression, "
                            f"{100 * judge:.1f}% on the validation split)", columns, [("", rows)],
                            [{"task": task, "dpc": d} for d in dpcs for _ in measures]))
    return tables


def expected_from_records(records: pd.DataFrame) -> Expected:
    """For a runs folder without its grid: every (method, learner) pair of a task that cannot run (an
    embedding-level set and a learner of another space), as the records describe them, is n/a, not missing."""
    expected = Expected()
    if records.empty:
        return expected
    dpcs = sorted({int(d) for d in records["dpc"].dropna()})
    for task, rows in records[records["described"]].groupby("task"):
        methods = rows[["method", "method_kind", "method_space"]].drop_duplicates().itertuples(index=False)
        learners = list(rows[["learner", "learner_accepts", "learner_space"]].drop_duplicates().itertuples(index=False))
        for method in methods:
            for learner in learners:
                if pair_status(method.method_kind, method.method_space, learner.learner_accepts,
                               learner.learner_space) == "n/a":
                    for dpc in dpcs:
                        expected.cells[(task, learner.learner, method.method, dpc)] = "n/a"
    return expected


SHARED_KINDS = ("dilm", "tdd", "embeddings")  # artifacts methods build and share (model conversions are set-up)
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
                uses += [{**key, **artifact} for artifact in record.get("artifacts", [])
                         if artifact["kind"] in SHARED_KINDS]
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


NO_DPC = 0  # the column of a study whose every set is DPC-independent (the Full dataset), read without its grid


@dataclass
class Expected:
    """The cells a grid asked for: (task, learner, method, dpc) -> "n/a" for pairs that cannot run; and the DPCs of
    each learner that a grid restricts (learner label -> DPCs), whose other DPCs are not holes."""

    cells: dict[tuple, str] = field(default_factory=dict)
    learner_dpcs: dict[str, list[int]] = field(default_factory=dict)
    fits: dict[tuple, int] = field(default_factory=dict)  # (task, method label) -> fits asked (n_fits, seeded methods)


def summarise(records: pd.DataFrame, failures: pd.DataFrame | None = None, dpcs: list[int] | None = None,
              expected: Expected | None = None, samples: bool = False) -> pd.DataFrame:
    """Long form, one row per (task, learner, method, DPC): mean, population std and n of the task's
    metric in %, a status (ok / fail / missing / n/a), Welch p-values against Random and the runner-up,
    best-in-column and mixed-code-version flags. DPC-independent rows (full) repeat under every DPC; a study of
    DPC-independent sets alone, read without its grid, gets one column, DPC 0 (shown as "no DPC"). With ``samples``
    each row keeps its replication units (``_sample``) for :func:`comparisons`."""
    failures = failures if failures is not None else pd.DataFrame(columns=KEY + ["reference"])
    all_dpcs = sorted(set(dpcs or []) | {int(d) for d in pd.concat([records.get("dpc", pd.Series(dtype=float)),
                                                                     failures["dpc"]]).dropna()})
    if not all_dpcs and len(records) + len(failures):
        all_dpcs = [NO_DPC]

    restricted = expected.learner_dpcs if expected else {}

    def dpcs_of(learner: str) -> list[int]:
        return restricted.get(learner, all_dpcs)

    def broadcast(frame):
        fixed, free = frame[frame["dpc"].notna()].assign(_free=False), frame[frame["dpc"].isna()]
        spread = [free[free["learner"].map(lambda name: d in dpcs_of(name))].assign(dpc=d, _free=True)
                  for d in all_dpcs]
        return pd.concat([fixed] + spread, ignore_index=True)

    cells, failed_counts = _measured_cells(records, failures, broadcast)
    _add_expected_cells(cells, expected, _demonstration_free(records), dpcs_of)
    fits_asked = _fits_asked(cells, expected)
    rows = []
    for key, cell in cells.items():
        scores = cell["scores"]
        status = cell.get("status") or ("ok" if len(scores) else "fail" if failed_counts.get(key) else "missing")
        sets, fits = cell.get("sets", np.zeros(len(scores))), cell.get("fits", np.zeros(len(scores)))
        asked = fits_asked.get((key[0], key[2]), 1)
        sample = replication_sample(scores, sets, fits, by_fit=asked > 1)
        rows.append({**dict(zip(KEY, key)), "metric": cell["metric"], "reference": cell["reference"], "status": status,
                     "learner_family": cell.get("family"),
                     "mean": scores.mean() if len(scores) else np.nan,
                     "std": scores.std(ddof=0) if len(scores) else np.nan, "n": len(scores),
                     "n_sets": len(set(zip(fits, sets))), "n_fits": len(np.unique(fits)), "fits_asked": asked,
                     **bootstrap_ci(sample),
                     "dpc_independent": bool(cell.get("dpc_independent", False)),
                     "n_failed": failed_counts.get(key, 0), "mixed_versions": len(cell["versions"]) > 1,
                     "queries_cut": cell.get("queries_cut", 0), "precision": "+".join(cell.get("precisions", [])),
                     "_sample": sample})
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    summary = summary.sort_values(KEY).reset_index(drop=True)
    _add_tests(summary)
    return summary if samples else summary.drop(columns="_sample")


def _fits_asked(cells: dict, expected: Expected | None) -> dict[tuple, int]:
    """(task, method) -> the fits its cells are measured over: what the grid asks for (``n_fits`` of a seeded
    method) or, for a runs folder read without its grid, the most fits any of the method's cells has."""
    asked = dict(expected.fits) if expected else {}
    for (task, _, method, _), cell in cells.items():
        if len(cell["scores"]):
            seen = len(np.unique(cell["fits"]))
            asked[(task, method)] = max(asked.get((task, method), 1), seen)
    return asked


def replication_sample(scores: np.ndarray, sets: np.ndarray, fits: np.ndarray | None = None,
                       by_fit: bool = False) -> np.ndarray:
    """The unit of replication of a cell: the mean score of each distilled set (its runs share its data, so they are
    not independent); for a cell with one set (a deterministic method: Herding, Full dataset) its learner runs,
    the only replication it has; for a cell whose sets come from several fits (``n_fits``) or of a method measured
    over fits (``by_fit``: its other cells or its grid have several), the mean of each fit's set means (its sets
    share its generator), so a cell with one of its fits so far has one unit and no test."""
    scores, sets = np.asarray(scores, dtype=float), np.asarray(sets)
    fits = np.zeros(len(scores)) if fits is None else np.asarray(fits)
    if len(scores) and (by_fit or len(np.unique(fits)) > 1):
        return np.array([replication_sample(scores[fits == f], sets[fits == f]).mean() for f in np.unique(fits)])
    if len(np.unique(sets)) < 2:
        return scores
    return np.array([scores[sets == s].mean() for s in np.unique(sets)])


BOOTSTRAP_MIN_UNITS = 5  # below this a percentile bootstrap returns about the sample's range: Student's t instead


def bootstrap_ci(sample: np.ndarray, level: float = 0.95) -> dict:
    """An interval of the mean over the replication units: a percentile bootstrap (scipy, 2,000 resamples, seeded)
    from BOOTSTRAP_MIN_UNITS units, Student's t below (two per-fit means bootstrap to their own min and max); NaN
    with fewer than two units (one fit, one run: no interval), the value itself when all units share it."""
    if len(sample) < 2:
        return {"ci_low": np.nan, "ci_high": np.nan}
    if np.ptp(sample) == 0:
        return {"ci_low": float(sample[0]), "ci_high": float(sample[0])}
    from scipy.stats import bootstrap, sem, t

    if len(sample) < BOOTSTRAP_MIN_UNITS:
        low, high = t.interval(level, len(sample) - 1, loc=np.mean(sample), scale=sem(sample))
        return {"ci_low": float(low), "ci_high": float(high)}

    result = bootstrap((sample,), np.mean, n_resamples=2000, confidence_level=level, method="percentile",
                       random_state=np.random.default_rng(0))
    return {"ci_low": float(result.confidence_interval.low), "ci_high": float(result.confidence_interval.high)}


def _measured_cells(records: pd.DataFrame, failures: pd.DataFrame, broadcast) -> tuple[dict, dict]:
    """(task, learner, method, DPC) -> the cell's scores in % and what the rows say about it; and the number of
    failed runs per cell (a cell with failures only gets an empty entry)."""
    cells: dict[tuple, dict] = {}
    if not records.empty:
        scored = broadcast(records.assign(score=records.apply(lambda r: r[f"metric.{r['metric']}"], axis=1) * 100))
        for key, group in scored.groupby(KEY):
            key = (key[0], key[1], key[2], int(key[3]))
            cells[key] = {"scores": group["score"].to_numpy(), "sets": group["set_seed"].to_numpy(),
                          "fits": group["fit_seed"].to_numpy(),
                          "reference": bool(group["reference"].iloc[0]),
                          "metric": group["metric"].iloc[0], "versions": sorted(set(group["code_version"])),
                          "family": group["learner_family"].iloc[0], "queries_cut": int(group["queries_cut"].sum()),
                          "precisions": sorted(set(group.get("precision", pd.Series(dtype=str)).fillna("")) - {""}),
                          "dpc_independent": bool(group["_free"].all())}
    failed_counts = {}
    if not failures.empty:
        for key, group in broadcast(failures).groupby(KEY):
            key = (key[0], key[1], key[2], int(key[3]))
            failed_counts[key] = len(group)
            cells.setdefault(key, {"scores": np.array([]), "reference": bool(group["reference"].iloc[0]),
                                   "metric": None, "versions": []})
    return cells, failed_counts


def _add_expected_cells(cells: dict, expected: Expected | None, demonstration_free: set[str], dpcs_of) -> None:
    """Empty entries for the cells the grid asked for (n/a where the pair cannot run) and for the holes: every
    method of a task is expected under each learner and DPC of that task (demonstration-free rows such as
    zero-shot only under in-context learners)."""
    if expected:
        for key, status in expected.cells.items():
            cells.setdefault(key, {"scores": np.array([]), "reference": status == "reference", "metric": None,
                                   "versions": [], "status": "n/a" if status == "n/a" else None})
    methods = {(k[0], k[2]): c["reference"] for k, c in cells.items()}
    families = {k[1]: c["family"] for k, c in cells.items() if c.get("family")}
    for task, learner in {(k[0], k[1]) for k in cells}:
        for (method_task, method), reference in methods.items():
            if method in demonstration_free and families.get(learner) != "icl":
                continue
            for dpc in dpcs_of(learner):
                if method_task == task:
                    cells.setdefault((task, learner, method, dpc), {"scores": np.array([]), "reference": reference,
                                                                    "metric": None, "versions": []})


def _welch(a: np.ndarray, b: np.ndarray) -> float:
    """Welch's two-sided t-test p-value; NaN when either side has fewer than 2 runs or no spread at all."""
    import warnings

    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical samples: scipy warns, the p-value stands
        return float(ttest_ind(a, b, equal_var=False).pvalue)


def _add_tests(summary: pd.DataFrame) -> None:
    """p_vs_random: Welch's t-test of each row's replication sample (per-set means; a one-set row's runs) against
    the Random row's; best: the highest mean in the column except Full dataset, when two or more rows compete;
    p_vs_runner_up: the best row against the second best."""
    summary["p_vs_random"] = np.nan
    summary["best"] = False
    summary["p_vs_runner_up"] = np.nan
    for _, column in summary.groupby(["task", "learner", "dpc"]):
        random = column[column["method"] == "random"]
        if len(random):
            for index, row in column.iterrows():
                if row["method"] not in ("random", "full") and row["n"]:
                    summary.at[index, "p_vs_random"] = _welch(row["_sample"], random.iloc[0]["_sample"])
        ranked = column[(column["n"] > 0) & (column["method"] != "full")].sort_values("mean", ascending=False)
        if len(ranked) > 1:  # a row alone in its column (Random beside the Full dataset) is best of nothing
            summary.at[ranked.index[0], "best"] = True
            summary.at[ranked.index[0], "p_vs_runner_up"] = _welch(ranked.iloc[0]["_sample"], ranked.iloc[1]["_sample"])


def comparisons(summary: pd.DataFrame) -> pd.DataFrame:
    """Every pair of measured rows in each (task, learner, DPC) column, the higher mean first: the means, their
    difference, the replication units each has (sets, fits or a one-set row's runs) and Welch's p over those units,
    the same test as p_vs_random. ``summary`` keeps its samples (``summarise(..., samples=True)``)."""
    rows = []
    for (task, learner, dpc), column in summary[summary["n"] > 0].groupby(["task", "learner", "dpc"]):
        ranked = column.sort_values(["mean", "method"], ascending=[False, True])
        for i, (_, a) in enumerate(ranked.iterrows()):
            for _, b in ranked.iloc[i + 1:].iterrows():
                rows.append({"task": task, "learner": learner, "dpc": dpc, "method_a": a["method"],
                             "method_b": b["method"], "mean_a": a["mean"], "mean_b": b["mean"],
                             "difference": a["mean"] - b["mean"], "units_a": len(a["_sample"]),
                             "units_b": len(b["_sample"]), "p_welch": _welch(a["_sample"], b["_sample"])})
    return pd.DataFrame(rows)


@dataclass
class Cell:
    text: str
    bold: bool = False
    marks: str = ""
    value: float | None = None  # the number it shows (sorting the HTML table); None for "-", "fail", "n/a"
    key: tuple | None = None  # (task, learner, method, dpc) of a measured cell: its page in the HTML report


def _cell(row) -> Cell:
    key = (row["task"], row["learner"], row["method"], int(row["dpc"]))
    if row["status"] != "ok":
        return Cell({"fail": "fail", "missing": "-", "n/a": "n/a (embedding-level)"}[row["status"]],
                    key=key if row["status"] == "fail" else None)
    marks = ""
    if row["p_vs_random"] < ALPHA:
        marks += "*"
    if row["best"] and row["p_vs_runner_up"] < ALPHA:
        marks += "†"
    if row["mixed_versions"]:
        marks += "‡"
    if row["n_failed"]:
        marks += "§"
    if row["queries_cut"]:
        marks += "¶"
    if "+" in row["precision"]:
        marks += "°"
    return Cell(f"{row['mean']:.1f} ± {row['std']:.1f} ({_replicates(row)})", bool(row["best"]), marks,
                float(row["mean"]), key)


def _precision_note(summary: pd.DataFrame) -> str:
    """What the fine-tuned runs stepped in (``precision: auto`` resolves per machine), and the ° mark's meaning."""
    used = sorted({p for cell in summary["precision"].dropna() for p in cell.split("+") if p})
    if not used:
        return ""
    note = f" Fine-tuned runs stepped in {' and '.join(used)} (leaderboard.csv: precision)."
    if summary["precision"].fillna("").str.contains("+", regex=False).any():
        note += " ° the runs of this cell stepped in more than one precision (machines with and without bf16)."
    return note


def _replicates(row) -> str:
    """``sets×runs`` when every set has the same number of learner runs, else ``N sets, M runs``; led by
    ``N fits:`` when the sets come from more than one fit, ``K of N fits:`` when fewer fits than asked have run."""
    sets, runs, fits, asked = int(row["n_sets"]), int(row["n"]), int(row["n_fits"]), int(row["fits_asked"])
    shown = f"{sets}×{runs // sets}" if sets and runs % sets == 0 else f"{sets} sets, {runs} runs"
    if fits < asked:
        return f"{fits} of {asked} fits: {shown}"
    return f"{fits} fits: {shown}" if fits > 1 else shown


@dataclass
class Table:
    """A table ready to render: a title, column labels and blocks of (row label, cells)."""

    title: str
    columns: list[str]
    blocks: list[tuple[str, list[tuple[str, list[Cell]]]]]
    column_keys: list[dict] = field(default_factory=list)  # per column: its task / dpc / learner (HTML filters)
    learner: str | None = None  # a main table's learner


def _demonstration_free(records: pd.DataFrame) -> set[str]:
    """Labels of the rows whose method makes no examples (kind "empty": zero-shot), shown only under ICL."""
    if records.empty:
        return set()
    return set(records.loc[records["method_kind"] == "empty", "method"])


REFERENCE_LABELS = {"full": "Full dataset", "random": "Random", "zero-shot": "Zero-shot"}


def _method_blocks(part: pd.DataFrame, rows_for) -> list[tuple[str, list]]:
    """The methods' rows, then the reference block (Full dataset, Random, then any other reference row, by label)."""
    methods = sorted(part.loc[~part["reference"], "method"].unique())
    references = [m for m in ("full", "random") if m in set(part["method"])] + sorted(
        set(part.loc[part["reference"], "method"]) - {"full", "random"})
    blocks = [("", rows_for(methods))] if methods else []
    if references:
        blocks.append(("reference rows", [(REFERENCE_LABELS.get(m, m), cells) for m, cells in rows_for(references)]))
    return blocks


def main_tables(summary: pd.DataFrame) -> list[Table]:
    tables = []
    families = learner_families(summary)
    for learner, part in sorted(summary.groupby("learner"), key=lambda item: (families.get(item[0]) == "icl", item[0])):
        columns = _distinct_columns(part)
        by_key = {(r["method"], r["task"], r["dpc"]): r for _, r in part.iterrows()}

        def rows_for(methods):
            return [(m, [_cell(by_key[(m, t, d)]) if (m, t, d) in by_key else Cell("-") for t, d in columns])
                    for m in methods]

        blocks = _method_blocks(part, rows_for)
        paper = sorted({row for t, d in columns for row in published(t, d)},
                       key=lambda r: list(["Random", "K-centers", "Herding", "Vanilla LM", "DiLM", "Full dataset"]).index(r))
        if paper and learner == PUBLISHED_LEARNER:  # the paper's numbers, beside the learner that measured them
            blocks.append((f"published: {PUBLISHED_SOURCE}", [
                (name, [_published_cell(published(t, d).get(name)) for t, d in columns]) for name in paper]))
        title = f"In-context learning: {learner}" if families.get(learner) == "icl" else f"Learner: {learner}"
        independent = _independent_columns(part)
        tables.append(Table(title, [f"{t} (no DPC)" if (t, d) in independent else f"{t} DPC {d}" for t, d in columns],
                            blocks, [{"task": t, "dpc": int(d)} for t, d in columns], learner))
    return tables


def _independent_columns(part: pd.DataFrame) -> set[tuple]:
    """(task, DPC) columns whose measured rows are all DPC-independent (the Full dataset): they have no DPC."""
    measured = part[part["status"] == "ok"]
    return {key for key, rows in measured.groupby(["task", "dpc"]) if rows["dpc_independent"].all()}


def _distinct_columns(part: pd.DataFrame) -> list[tuple]:
    """The table's (task, DPC) columns; a task whose every column is DPC-independent keeps one (the same numbers
    repeated under each DPC say nothing)."""
    columns = sorted(set(zip(part["task"], part["dpc"])))
    independent = _independent_columns(part)
    kept, seen = [], set()
    for task, dpc in columns:
        if all((task, d) in independent for t, d in columns if t == task):
            if task in seen:
                continue
            seen.add(task)
        kept.append((task, dpc))
    return kept


def learner_families(summary: pd.DataFrame) -> dict[str, str]:
    """learner label -> family ("fine-tuned", "non-neural", "icl"): in-context learners get their own tables."""
    return summary.dropna(subset=["learner_family"]).groupby("learner")["learner_family"].first().to_dict()


def _published_cell(value) -> Cell:
    if value is None:
        return Cell("-")
    mean, std = value
    return Cell(f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}", value=float(mean))


def cross_architecture_tables(summary: pd.DataFrame) -> list[Table]:
    """Per (task, DPC) with two or more learners that train: rows = distillation source (method), columns =
    learners (in-context learners have their own tables)."""
    tables = []
    families = learner_families(summary)
    trained = summary[summary["learner"].map(lambda name: families.get(name) != "icl")]
    for (task, dpc), part in trained.groupby(["task", "dpc"]):
        learners = sorted(part["learner"].unique())
        if len(learners) < 2:
            continue
        by_key = {(r["method"], r["learner"]): r for _, r in part.iterrows()}

        def rows_for(methods):
            return [(m, [_cell(by_key[(m, l)]) if (m, l) in by_key else Cell("-") for l in learners]) for m in methods]

        where = "no DPC" if (task, dpc) in _independent_columns(part) else f"DPC {dpc}"
        tables.append(Table(f"Cross-architecture: {task}, {where}", learners, _method_blocks(part, rows_for),
                            [{"task": task, "dpc": int(dpc), "learner": learner} for learner in learners]))
    return tables


def cost_table(costs: pd.DataFrame) -> Table:
    gpu = bool(costs["gpu_s"].fillna(0).sum())
    rows = [(f"{r['task']}: {r['method']}" + (f" ({r['n_fits']} fits)" if r["n_fits"] > 1 else ""),
             [Cell(_fmt_s(r["fit_s"])), Cell(_fmt_s(r["distill_s"])),
              Cell(("≥ " if r["untimed_builds"] else "") + _fmt_s(r["full_s"])),
              Cell(_fmt_s(r["evaluate_s"])), Cell(_fmt_mib(r["peak_rss_mib"]))]
             + ([Cell(_fmt_s(r["gpu_s"])), Cell(_fmt_mib(r["peak_cuda_mib"]))] if gpu else []))
            for _, r in costs.iterrows()]
    return Table("Cost (wall time on the machines that ran the cells; full = fit + every set, with shared builds "
                 "split among the methods that use them; a method fitted N times: the total of its fits and sets"
                 + ("; ≥: it used a shared build that was not timed, a lower bound" if costs["untimed_builds"].any()
                    else "") + ")",
                 ["fit (total)", "distill (per set)", "full cost", "evaluate (per run)", "peak RSS"]
                 + (["GPU time", "peak GPU memory"] if gpu else []), [("", rows)])


def _fmt_s(value) -> str:
    return "-" if pd.isna(value) else f"{value:.1f} s"


def _fmt_mib(value) -> str:
    return "-" if pd.isna(value) else f"{value:.0f} MiB"


def _scored_split(summary: pd.DataFrame) -> str:
    """Which split the numbers score: tasks scored on validation (choosing settings) are named "<task> (validation)"."""
    on_validation = summary["task"].astype(str).str.endswith(" (validation)")
    return ("Validation-split" if on_validation.all() else
            "Test-split (validation-split for the tasks named so)" if on_validation.any() else "Test-split")


def footnotes(summary: pd.DataFrame, citations: list[str]) -> list[str]:
    counts = summary["status"].value_counts()
    metrics = ", ".join(sorted(m for m in summary["metric"].dropna().unique())) or "accuracy"
    notes = [
        f"{_scored_split(summary)} {metrics} (%), mean ± population std over all runs (sets×runs: distilled sets × learner runs "
        f"per set). Bold: the best mean in the column (Full dataset excluded). \"no DPC\": a column whose rows do not "
        f"depend on DPC (the whole train split).",
        f"\\* differs from Random (Welch's two-sided t-test, p < {ALPHA}) on per-set means: the distilled set is the "
        f"unit of replication, since a set's runs share its data; a row with one set (a deterministic method such as "
        f"Herding, or the Full dataset) is compared over its learner runs, its only replication." + (
            " A row marked \"N fits:\" holds sets from N fits of a seeded method (generators trained with other "
            "seeds); its unit is the fit (the mean of its sets' means), since a fit's sets share its generator." + (
                " \"K of N fits:\" only K of the N fits asked for have run: still tested per fit, so a cell with one "
                "fit has no test." if (summary["n_fits"] < summary["fits_asked"]).any() else "")
            if (summary["fits_asked"] > 1).any() else "") + f" † the best row "
        f"differs from the runner-up (same test). 95% intervals over the same units are in leaderboard.csv "
        f"(ci_low, ci_high: a percentile bootstrap from {BOOTSTRAP_MIN_UNITS} units, Student's t below). ‡ the runs "
        f"of this cell come from more than one code version; § some runs of this cell failed." + (
            f" ¶ in-context learning cut test queries longer than the model's context ({int(summary['queries_cut'].sum())} "
            f"query scorings in all; each kept its label: line): the scores are on shortened queries."
            if summary["queries_cut"].sum() else "") + _precision_note(summary),
        " ".join(text for method, text in (
            ("full", "Full dataset (reference row) = the whole train split."),
            ("random", "Random (reference row) = DPC real examples per class drawn uniformly."),
            ("zero-shot", "Zero-shot (reference row of ICL tables) = the query alone, no demonstrations."))
            if method in set(summary["method"])) + (
            " Published rows are the paper's numbers (BERT-base learner, GLUE validation as test), not re-run here; "
            f"they sit only under {PUBLISHED_LEARNER}, the learner that measured them."
            if any(published(t, d) for t, d, learner in zip(summary["task"], summary["dpc"], summary["learner"])
                   if learner == PUBLISHED_LEARNER) else ""),
        f"Cells: {counts.get('ok', 0)} with results, {counts.get('fail', 0)} failed (fail), "
        f"{counts.get('missing', 0)} missing (-), {counts.get('n/a', 0)} not applicable (n/a).",
    ]
    if citations:
        notes.append("Methods: " + "; ".join(citations))
    return notes


def full_not_above_random(summary: pd.DataFrame) -> str | None:
    """A warning for each (task, learner) where the Full dataset scores no higher than Random at some DPC: the
    learner's recipe fails on the whole train split (e.g. TF-IDF's default regularisation on many rare classes), so
    the comparisons under it say little."""
    done = summary[summary["status"] == "ok"]
    full, random = (done[done["method"] == name].set_index(["task", "learner", "dpc"])["mean"]
                    for name in ("full", "random"))
    pairs = pd.concat({"full": full, "random": random}, axis=1).dropna()
    low = pairs[pairs["full"] <= pairs["random"]]
    if low.empty:
        return None
    cases = "; ".join(f"{learner} on {task}: Full {row.full:.1f} vs Random {row.random:.1f}"
                      + (f" at DPC {dpc}" if dpc != NO_DPC else "")
                      for (task, learner, dpc), row in low.iterrows())
    return (f"Warning: the Full dataset scores no higher than Random ({cases}). The learner fails on the whole "
            f"train split, so its rows say little about the methods: on imbalanced or many-class data give it "
            f"`class_weight: balanced` (tfidf-logreg, bow-ngrams and the fine-tuned learners take it) or, for "
            f"tfidf-logreg, a larger `C`, chosen on the validation split (`score_on: validation`), never on the test split.")


def render_markdown(tables: list[Table], notes: list[str]) -> str:
    """The tables as GitHub markdown, a block title (reference, published) as a row of its own.

    Rendered here, not by tabulate (measured with 0.10): its pipe format pads every column to one width, which
    would rewrite every committed leaderboard and golden file without a change of content, and its
    ``latex_booktabs`` escapes the cells' markup (``\\textbf``, ``$\\pm$``) while ``latex_raw`` has no booktabs
    rules and neither has a spanning block-title row."""
    parts = []
    for table in tables:
        lines = [f"### {table.title}", "", "| method | " + " | ".join(table.columns) + " |",
                 "|:--|" + "--:|" * len(table.columns)]
        for block_title, rows in table.blocks:
            if block_title:
                lines.append(f"| *{block_title}* |" + " |" * len(table.columns))
            for label, cells in rows:
                lines.append(f"| {label} | " + " | ".join(_md(c) for c in cells) + " |")
        parts.append("\n".join(lines))
    parts.append("\n".join(f"{note}  " for note in notes))
    return "\n\n".join(parts) + "\n"


def _md(cell: Cell) -> str:
    return (f"**{cell.text}**" if cell.bold else cell.text) + cell.marks.replace("*", "\\*")


LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                 "~": r"\textasciitilde{}", "^": r"\^{}", "\\": r"\textbackslash{}"}


def _tex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in text)


TEX_MARKS = {"†": r"\dag", "‡": r"\ddag", "§": r"\S", "¶": r"\P", "°": r"\circ"}  # a cell's marks in LaTeX math


def _tex(cell: Cell) -> str:
    text = _tex_escape(cell.text).replace("±", r"$\pm$")
    marks = "".join(TEX_MARKS.get(mark, mark) for mark in cell.marks)
    text = rf"\textbf{{{text}}}" if cell.bold else text
    return text + (f"$^{{{marks}}}$" if marks else "")


def render_latex(tables: list[Table], notes: list[str]) -> str:
    """booktabs tables (needs \\usepackage{booktabs}), one tabular per table, notes as a comment block."""
    parts = ["% generated by `python -m benchmark report`; needs \\usepackage{booktabs}"]
    for table in tables:
        lines = [f"% {table.title}", r"\begin{tabular}{l" + "c" * len(table.columns) + "}", r"\toprule",
                 "Method & " + " & ".join(_tex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
        for i, (block_title, rows) in enumerate(table.blocks):
            if i:
                lines.append(r"\midrule")
            if block_title:
                lines.append(rf"\multicolumn{{{len(table.columns) + 1}}}{{l}}{{\emph{{{_tex_escape(block_title)}}}}} \\")
            for label, cells in rows:
                lines.append(_tex_escape(label) + " & " + " & ".join(_tex(c) for c in cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        parts.append("\n".join(lines))
    parts.append("\n".join(f"% {note}" for note in notes))
    return "\n\n".join(parts) + "\n"


@dataclass
class Report:
    """Everything a report writes, in memory: the long-form summary, the runs, costs and fidelity frames (empty
    when there is nothing), the rendered tables and the notes under them."""

    summary: pd.DataFrame
    records: pd.DataFrame
    costs: pd.DataFrame
    fidelity: pd.DataFrame
    tables: list[Table]
    notes: list[str]
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # every pair of rows in a column, Welch's p


def build_report(runs_dir: Path, cell_ids: set[str] | None = None, dpcs: list[int] | None = None,
                 expected: Expected | None = None, judge_version: int | None = None,
                 carry: list[Path] = ()) -> Report:
    """The report of the runs in ``runs_dir`` (only ``cell_ids`` when given), with the grid's DPCs and cells, and
    the runs carried from the report folders in ``carry`` (``report.carried``); with the current ``judge_version``,
    a note counts the text sets an older judge measured."""
    local = load_records(runs_dir, cell_ids)
    records = with_carried(local, list(carry))
    carried = records[records["carried_from"].notna()] if "carried_from" in records else records[:0]
    failures = load_failures(runs_dir, cell_ids)
    if len(carried):  # a cell failed here and done elsewhere counts as done
        failures = failures[~failures["cell_id"].isin(set(carried["cell_id"]))]
    with_samples = summarise(records, failures, dpcs, expected, samples=True)
    summary = with_samples.drop(columns="_sample", errors="ignore")
    if summary.empty:
        return Report(summary, records, pd.DataFrame(), pd.DataFrame(), [], ["No finished or failed runs."])
    cited = [frame[["method_name", "citation"]] for frame in (records, failures) if not frame.empty]  # none: all missing
    citations = [f"{name}: {citation}" for name, citation in
                 sorted(set(pd.concat(cited).dropna().itertuples(index=False)))] if cited else []
    costs = load_costs(runs_dir, cell_ids, carried)
    costs = costs[costs["method"].isin(summary["method"])] if not costs.empty else costs
    fidelity = carried_fidelity(load_fidelity(runs_dir, cell_ids), list(carry))
    fidelity = fidelity[fidelity["method"].isin(set(summary["method"]) | set(REFERENCE_LABELS.values()))] \
        if not fidelity.empty else fidelity
    tables = main_tables(summary) + cross_architecture_tables(summary) + fidelity_tables(fidelity)
    if not costs.empty:
        tables.append(cost_table(costs))
    notes = footnotes(summary, citations)
    if warning := full_not_above_random(summary):
        notes.append(warning)
    if not records.empty and not records["described"].all():
        notes.append(f"{int((~records['described']).sum())} run(s) were recorded before records described their method "
                     "and learner (schema 1): their rows show plain names, without reference flags or n/a cells.")
    if len(carried):
        sources = ", ".join(sorted({shown(source) for source in carried["carried_from"]}))
        notes.append(f"{len(carried)} of the {len(records)} runs are carried from another report's runs.csv "
                     f"({sources}): their records are not in this runs folder; each row keeps its config, seeds, "
                     f"versions and commit (runs.csv, and the cell pages).")
    if records.attrs.get("damaged"):
        notes.append(f"Skipped {len(records.attrs['damaged'])} damaged record(s) (not whole JSON; `run` makes these "
                     f"cells again): " + ", ".join(records.attrs["damaged"]))
    if not fidelity.empty:
        notes.append("Fidelity: on-label = share of a set's texts that a TF-IDF + logistic-regression judge trained on "
                     "the train split assigns to the set's label (a train-split text, e.g. a coreset's, by a "
                     "judge trained without it: cross-fitting over 5 folds, fewer when a class has fewer train "
                     "texts, none when a class is too small to hold out); test overlap = share of its texts that "
                     "duplicate a test text (same words, token-set Jaccard >= 0.8, or a shared 8-word sequence)"
                     + ("; candidates on-label (generators) = the same judge on every candidate a set was selected "
                        "from: the generator's conditioning before selection"
                        if fidelity["candidate_on_label_share"].notna().any() else "")
                     + ". Per set in fidelity.csv (with distinct bigrams and mean pairwise TF-IDF distance).")
        stale = fidelity[fidelity["judge_version"] != judge_version] if judge_version is not None else fidelity[:0]
        if len(stale):
            notes.append(f"{len(stale)} of the {len(fidelity)} text sets were measured by another judge (version "
                         f"{', '.join(map(str, sorted(set(stale['judge_version']))))}; this code's: {judge_version}): "
                         f"`python -m benchmark judge {shlex.quote(str(runs_dir))}` measures them again.")
    return Report(summary, records, costs, fidelity, tables, notes, comparisons(with_samples))
