"""What one cell of the protocol costs on this machine: data loading, a MiniLM fine-tune with the paper's
recipe on a DPC 5 random rt-polarity set (+ scoring the test split), and a TF-IDF learner on the same set.

Run: ``.venv/bin/python -m pytest perf/test_protocol_speed.py --benchmark-only``
"""
import pytest

from benchmark.learners import LEARNERS
from benchmark.tasks import TASKS
from methods import METHODS


@pytest.fixture(scope="module")
def task():
    return TASKS.create("rt-polarity")


def test_load_and_split_rt_polarity(benchmark):
    splits = benchmark.pedantic(lambda: TASKS.create("rt-polarity").splits, rounds=3, iterations=1)
    assert len(splits.train) > 8000


@pytest.mark.parametrize("dpc", [5, 20])
def test_minilm_paper_recipe_fine_tune_and_score(benchmark, task, dpc):
    distilled = METHODS.create("random").distill(task, dpc, seed=0)
    learner = LEARNERS.create("minilm")
    predictions = benchmark.pedantic(
        lambda: learner.fit_predict(distilled.examples, task.splits.test, task.num_classes, seed=0),
        rounds=1, iterations=1)
    assert len(predictions) == len(task.splits.test)


def test_tfidf_logreg_on_the_full_train_split(benchmark, task):
    learner = LEARNERS.create("tfidf-logreg")
    predictions = benchmark.pedantic(
        lambda: learner.fit_predict(task.splits.train, task.splits.test, task.num_classes, seed=0),
        rounds=3, iterations=1)
    assert (predictions == task.splits.test.labels).mean() > 0.7
