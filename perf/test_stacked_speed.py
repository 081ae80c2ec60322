"""Evaluation throughput: N MiniLM fine-tunes (the paper's recipe, 200 steps) on one random rt-polarity set,
each scoring the whole test split, one at a time vs stacked (``fit_predict_many``); DPC 5 and DPC 20.

Run: ``.venv/bin/python -m pytest perf/test_stacked_speed.py --benchmark-only``
(``STACK_BENCH_RUNS`` sets N, default 10; ``STACK_BENCH_DPCS`` the DPCs, default "5 20").
"""
import os

import numpy as np
import pytest

from benchmark.learners import LEARNERS
from benchmark.tasks import TASKS
from methods import METHODS

RUNS = int(os.environ.get("STACK_BENCH_RUNS", "10"))
DPCS = [int(d) for d in os.environ.get("STACK_BENCH_DPCS", "5 20").split()]


@pytest.fixture(scope="module")
def task():
    return TASKS.create("rt-polarity")


@pytest.mark.parametrize("dpc", DPCS)
@pytest.mark.parametrize("path", ["one-at-a-time", "stacked"])
def test_minilm_runs_on_one_set(benchmark, task, dpc, path):
    train = METHODS.create("random").distill(task, dpc, seed=0).examples
    learner = LEARNERS.create("minilm")
    seeds = list(range(RUNS))
    if path == "stacked":
        def work():
            return learner.fit_predict_many([train] * RUNS, task.splits.test, task.num_classes, seeds)
    else:
        def work():
            return [learner.fit_predict(train, task.splits.test, task.num_classes, s) for s in seeds]
    predictions = benchmark.pedantic(work, rounds=1, iterations=1)
    accuracy = [(p == task.splits.test.labels).mean() for p in predictions]
    benchmark.extra_info.update(runs=RUNS, dpc=dpc, mean_accuracy=float(np.mean(accuracy)),
                                std_accuracy=float(np.std(accuracy, ddof=1)) if RUNS > 1 else 0.0)
    assert len(predictions) == RUNS and min(accuracy) > 0.4
