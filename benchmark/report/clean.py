"""Scores without the test rows a method's sets overlap: each run re-scored from its saved predictions (the same
trained models; only the scored rows change), to see whether a margin survives leakage."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import UsageError
from benchmark.core.metrics import compute_metrics
from benchmark.report.leaderboard import load_fidelity, load_records
from benchmark.study.store import FIDELITY, Store


def clean_test_scores(runs_dir, against: str):
    """Every evaluate run re-scored on the test rows that no set of method ``against`` (a row label, e.g.
    "DiLM (released)") overlaps, from its saved predictions (the same trained models; only the scored rows
    change). Returns (per-cell summary DataFrame, number of test rows removed, rows kept)."""
    from benchmark.tasks import load_task

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
    records = load_records(runs_dir)
    rows, tasks = [], {}
    for record in store.done_records("evaluate"):
        config = record["config"]
        key = json.dumps(config["task"], sort_keys=True)
        if key not in tasks:
            tasks[key] = load_task(config["task"]["name"], tuple(sorted(config["task"]["params"].items())))
        task = tasks[key]
        keep = np.setdiff1d(np.arange(len(task.splits.test)), sorted(bad))
        predictions = np.load(store.cell_dir("evaluate", record["cell_id"]) / "predictions.npy").astype(np.int64)
        clean = compute_metrics(task.splits.test.labels[keep], predictions[keep], task.num_classes)
        rows.append({"cell_id": record["cell_id"], f"clean_{task.metric}": 100 * clean[task.metric]})
    merged = records.merge(pd.DataFrame(rows), on="cell_id")
    metric = merged["metric"].iloc[0]
    merged["full"] = 100 * merged[f"metric.{metric}"]
    merged["clean"] = merged[f"clean_{metric}"]
    summary = merged.groupby(["task", "learner", "method", "dpc"]).agg(
        n=("clean", "size"), full_mean=("full", "mean"), full_std=("full", lambda x: x.std(ddof=0)),
        clean_mean=("clean", "mean"), clean_std=("clean", lambda x: x.std(ddof=0))).reset_index()
    n_test = len(next(iter(tasks.values())).splits.test) if tasks else 0
    return summary, len(bad), n_test - len(bad)
