"""The leaderboard's numbers: per (task, learner, method, DPC) cell the mean ± population std over its runs, its
status (ok / fail / missing / n/a), its replication units, bootstrap intervals and Welch's tests against Random and the
runner-up; every pair of rows compared (``comparisons``)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.core.labels import pair_status
from benchmark.report.records import ROLES, with_roles


ALPHA = 0.05

KEY = ["task", "learner", "method", "dpc"]

NO_DPC = 0  # the column of a study whose every set is DPC-independent (the Full dataset), read without its grid


@dataclass
class Expected:
    """The cells a grid asked for: (task, learner, method, dpc) -> "n/a" for pairs that cannot run; and the DPCs of
    each learner that a grid restricts (learner label -> DPCs), whose other DPCs are not holes."""

    cells: dict[tuple, str] = field(default_factory=dict)
    learner_dpcs: dict[str, list[int]] = field(default_factory=dict)
    fits: dict[tuple, int] = field(default_factory=dict)  # (task, method label) -> fits asked (n_fits, seeded methods)
    baseline: str | None = None  # the method label the grid compares every row against (default: the flagged one)


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


def summarise(records: pd.DataFrame, failures: pd.DataFrame | None = None, dpcs: list[int] | None = None,
              expected: Expected | None = None, samples: bool = False) -> pd.DataFrame:
    """Long form, one row per (task, learner, method, DPC): mean, population std and n of the task's
    metric in %, a status (ok / fail / missing / n/a), Welch p-values against the baseline (Random) and the
    runner-up, best-in-column and mixed-code-version flags; ``_baseline`` and ``_upper_bound`` mark the rows of
    those references (the grid's named baseline, else the records' flags). DPC-independent rows (full) repeat under every DPC; a study of
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
    for role, labels in _role_labels([records, failures], expected.baseline if expected else None).items():
        summary[f"_{role}"] = summary["method"].isin(labels)
    _add_tests(summary)
    return summary if samples else summary.drop(columns="_sample")


def _role_labels(frames: list[pd.DataFrame], baseline: str | None) -> dict[str, set[str]]:
    """role -> the method labels that hold it in the rows of ``frames`` (``baseline`` names the baseline instead)."""
    frames = [with_roles(frame) for frame in frames if len(frame) and "method_name" in frame]
    labels = {role: {label for frame in frames for label in frame.loc[frame[role], "method"]} for role in ROLES}
    if baseline:
        labels["baseline"] = {baseline}
    return labels


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


def _demonstration_free(records: pd.DataFrame) -> set[str]:
    """Labels of the rows whose method makes no examples (kind "empty": zero-shot), shown only under ICL."""
    if records.empty:
        return set()
    return set(records.loc[records["method_kind"] == "empty", "method"])


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
    the baseline row's (Random), and ``_vs_random`` the difference of their means (its direction: the ▲/▼ marks); best: the highest mean in the column except the upper bound (Full dataset), when two
    or more rows compete;
    p_vs_runner_up: the best row against the second best."""
    summary["p_vs_random"] = np.nan
    summary["_vs_random"] = np.nan
    summary["best"] = False
    summary["p_vs_runner_up"] = np.nan
    for _, column in summary.groupby(["task", "learner", "dpc"]):
        baseline = column[column["_baseline"]]
        if len(baseline):
            for index, row in column.iterrows():
                if not (row["_baseline"] or row["_upper_bound"]) and row["n"]:
                    summary.at[index, "p_vs_random"] = _welch(row["_sample"], baseline.iloc[0]["_sample"])
                    summary.at[index, "_vs_random"] = row["mean"] - baseline.iloc[0]["mean"]
        ranked = column[(column["n"] > 0) & ~column["_upper_bound"]].sort_values("mean", ascending=False)
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
