"""Learners: the paper's recipe on a real MiniLM is seeded and learns; TF-IDF learns a tiny task."""
import numpy as np
import pytest

from benchmark.learners import LEARNERS
from benchmark.tasks.base import Examples


def test_tfidf_learns_the_tiny_task(tiny_task):
    splits = tiny_task.splits
    predictions = LEARNERS.create("tfidf-logreg").fit_predict(splits.train, splits.test, 2, seed=0)
    assert predictions.shape == (len(splits.test),)
    assert (predictions == splits.test.labels).mean() >= 0.9


@pytest.mark.real
def test_minilm_is_seeded_and_learns(tiny_task, minilm_assets):
    splits = tiny_task.splits
    train = splits.train.subset(np.r_[np.flatnonzero(splits.train.labels == 0)[:8],
                                      np.flatnonzero(splits.train.labels == 1)[:8]])
    learner = LEARNERS.create("minilm", steps=12)
    first = learner.fit_predict(train, splits.test, 2, seed=3)
    second = learner.fit_predict(train, splits.test, 2, seed=3)
    assert np.array_equal(first, second)  # same seed, same head init, same data order and dropout masks
    assert (first == splits.test.labels).mean() >= 0.8


@pytest.mark.real
def test_minilm_trains_on_sentence_pairs(minilm_assets):
    texts = tuple((f"question {i}", f"answer {i}") for i in range(6))
    pairs = Examples(texts, np.array([0, 1, 0, 1, 0, 1]))
    predictions = LEARNERS.create("minilm", steps=2).fit_predict(pairs, pairs, 2, seed=0)
    assert predictions.shape == (6,) and set(predictions.tolist()) <= {0, 1}


def test_hub_learners_without_the_hub_fail_clearly(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    code = ("import numpy as np\nfrom benchmark.learners import LEARNERS\nfrom benchmark.tasks.base import Examples\n"
            "ex = Examples((('a',), ('b',)), np.array([0, 1]))\n"
            "LEARNERS.create('bert-base-uncased', steps=1).fit_predict(ex, ex, 2, 0)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "MissingAssetError: cannot load model 'bert-base-uncased'" in result.stderr
    assert "offline learners: minilm, tfidf-logreg" in result.stderr
    assert LEARNERS.create("roberta-base").get_params()["model"] == "roberta-base"
