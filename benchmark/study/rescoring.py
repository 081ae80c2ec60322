"""Runs re-scored against their task without some test rows (those a method's sets overlap): each run's saved
predictions scored again on the rows kept, the same trained models; beside the judge, which found the rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.metrics import compute_metrics
from benchmark.study.store import Store


def rescore_without(runs_dir, removed: set[int]) -> tuple[pd.DataFrame, int]:
    """Every finished evaluate run scored on its task's test rows except ``removed``: (one row per run with its
    ``cell_id`` and ``clean_<metric>`` in %, the number of test rows)."""
    from benchmark.tasks import load_task

    store = Store(Path(runs_dir))
    rows, tasks = [], {}
    for record in store.done_records("evaluate"):
        config = record["config"]
        key = json.dumps(config["task"], sort_keys=True)
        if key not in tasks:
            tasks[key] = load_task(config["task"]["name"], tuple(sorted(config["task"]["params"].items())))
        task = tasks[key]
        keep = np.setdiff1d(np.arange(len(task.splits.test)), sorted(removed))
        predictions = np.load(store.cell_dir("evaluate", record["cell_id"]) / "predictions.npy").astype(np.int64)
        clean = compute_metrics(task.splits.test.labels[keep], predictions[keep], task.num_classes)
        rows.append({"cell_id": record["cell_id"], f"clean_{task.metric}": 100 * clean[task.metric]})
    n_test = len(next(iter(tasks.values())).splits.test) if tasks else 0
    return pd.DataFrame(rows), n_test
