"""Scores without the test rows a method's sets overlap, to see whether a margin survives leakage: which rows the
judge found overlapped (its fidelity records), and the re-scored runs (``benchmark.study.rescoring``, which holds
the tasks) summarised per cell beside their full-test scores."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.core.errors import UsageError
from benchmark.report.records import load_fidelity, load_records
from benchmark.study.store import FIDELITY, Store


def overlapped_test_rows(runs_dir, against: str) -> set[int]:
    """The test rows that some set of method ``against`` (a row label, e.g. "DiLM (released)") overlaps, as the
    judge recorded them."""
    runs_dir = Path(runs_dir)
    fidelity = load_fidelity(runs_dir)
    if fidelity.empty or against not in set(fidelity["method"]):
        known = ", ".join(sorted(set(fidelity["method"]))) if not fidelity.empty else "none"
        raise UsageError(f"no set of method {against!r} is in {runs_dir} (its judged sets are of: {known}); the test "
                         f"rows to remove are those its sets overlap, so its sets must be here: run its distill cells "
                         f"into this folder with a cheap learner (`python -m benchmark run --grid GRID --methods ... "
                         f"--learners tfidf-logreg --runs-dir {runs_dir}`, seconds), then judge again")
    store = Store(runs_dir)
    bad = set()
    for cell in fidelity.loc[fidelity["method"] == against, "distill_cell"]:
        bad |= set(store.record(FIDELITY, cell)["overlapped_test_rows"])
    return bad


def clean_test_summary(runs_dir, rescored: pd.DataFrame) -> pd.DataFrame:
    """Per (task, learner, method, DPC): runs, mean and population std of the full-test and the clean-test scores;
    ``rescored`` holds each run's ``cell_id`` and ``clean_<metric>`` in %."""
    merged = load_records(Path(runs_dir)).merge(rescored, on="cell_id")
    metric = merged["metric"].iloc[0]
    merged["full"] = 100 * merged[f"metric.{metric}"]
    merged["clean"] = merged[f"clean_{metric}"]
    return merged.groupby(["task", "learner", "method", "dpc"]).agg(
        n=("clean", "size"), full_mean=("full", "mean"), full_std=("full", lambda x: x.std(ddof=0)),
        clean_mean=("clean", "mean"), clean_std=("clean", lambda x: x.std(ddof=0))).reset_index()
