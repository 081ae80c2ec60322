"""ICL scoring cost: the demonstration prefix's KV cache reused by every query vs the whole prompt encoded
per query. SmolLM2-135M, a DPC 5 random rt-polarity set as demonstrations, 200 test queries drawn at random
(the split is ordered by class).

Run: ``.venv/bin/python -m pytest perf/test_icl_speed.py --benchmark-only``
"""
import numpy as np
import pytest

from benchmark.learners import LEARNERS
from benchmark.tasks import TASKS
from methods import METHODS


@pytest.fixture(scope="module")
def setup():
    task = TASKS.create("rt-polarity")
    demos = METHODS.create("random").distill(task, 5, seed=0).examples
    queries = np.sort(np.random.default_rng(0).choice(len(task.splits.test), 200, replace=False))
    return task, demos, task.splits.test.subset(queries)


@pytest.mark.parametrize("prefix_cache", [True, False], ids=["prefix-cached", "full-prompt"])
def test_smollm2_icl_dpc5_200_queries(benchmark, setup, prefix_cache):
    task, demos, queries = setup
    learner = LEARNERS.create("smollm2-icl", prefix_cache=prefix_cache).for_task(task)
    predictions, details = benchmark.pedantic(lambda: learner.fit_predict(demos, queries, 2, seed=0),
                                              rounds=1, iterations=1)
    assert len(predictions) == 200 and details["demonstrations_used"] == 10
    benchmark.extra_info["accuracy"] = float((predictions == queries.labels).mean())
