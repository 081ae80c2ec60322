"""Learners: the paper's recipe on a real MiniLM is seeded and learns; TF-IDF learns a tiny task."""
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.learners import LEARNERS
from benchmark.learners.transformer import offline_learner_names
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
    assert "offline learners: bow-ngrams, minilm, mpnet-base, smollm2-clf, smollm2-icl, tfidf-logreg." in result.stderr
    assert LEARNERS.create("roberta-base").get_params()["model"] == "roberta-base"


@pytest.mark.real
@pytest.mark.parametrize("name", offline_learner_names())
def test_learner_contract(name, tiny_task, minilm_assets):
    """Every offline learner: trains on a tiny set with its cheap recipe, predicts a valid label for every
    test example, the same for the same seed; single texts and sentence pairs alike."""
    from benchmark.core.errors import MissingAssetError

    from conftest import IN_CI

    cls = LEARNERS.get(name)
    learner = cls(**cls.TEST_PARAMS).for_task(tiny_task)
    splits = tiny_task.splits

    def labels(output):  # a learner may return (labels, details for the record)
        return output[0] if isinstance(output, tuple) else output

    try:
        first = labels(learner.fit_predict(splits.train, splits.test, 2, seed=1))
    except MissingAssetError as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))
    assert first.shape == (len(splits.test),) and set(first.tolist()) <= {0, 1}
    assert np.array_equal(first, labels(learner.fit_predict(splits.train, splits.test, 2, seed=1)))
    both = np.r_[np.flatnonzero(splits.train.labels == 0)[:4], np.flatnonzero(splits.train.labels == 1)[:4]]
    few = splits.train.subset(both)
    pairs = Examples(tuple((t[0], "and " + t[0]) for t in few.texts), few.labels)
    pair_task = SimpleNamespace(text_fields=("premise", "hypothesis"), label_words=("negative", "positive"))
    assert labels(cls(**cls.TEST_PARAMS).for_task(pair_task).fit_predict(pairs, pairs, 2, seed=0)).shape == (8,)
    assert learner.family in ("fine-tuned", "non-neural", "from-scratch", "icl")
    assert learner.get_params() == cls(**learner.get_params()).get_params()


def test_split_asset_missing_names_the_fetch_command(tmp_path, monkeypatch):
    """An unassembled split asset fails with the command that assembles it; the CLI rejects unknown assets."""
    from benchmark.core.assets import resolve_model
    from benchmark.cli import main
    from benchmark.core.errors import MissingAssetError

    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path))
    with pytest.raises(MissingAssetError, match=r"python -m benchmark assets fetch mpnet-base"):
        resolve_model("mpnet-base")
    with pytest.raises(SystemExit) as exit_info:
        main(["assets", "fetch", "mpnet-bas"])
    assert exit_info.value.code == 2


def test_balanced_class_weights_match_scikit_learn_and_lift_the_minority_class():
    """Imbalanced data (about 7% positives): `class_weight: balanced` weighs classes as scikit-learn's rule does, and
    TF-IDF + logistic regression then finds the minority class that the unweighted model never predicts."""
    from sklearn.utils.class_weight import compute_class_weight

    from benchmark.learners import LEARNERS
    from benchmark.learners.base import class_weights
    from benchmark.tasks.base import Examples

    labels = np.array([0] * 40 + [1] * 3 + [2] * 7)
    assert np.allclose(class_weights(labels, 3, "balanced"), compute_class_weight("balanced", classes=np.arange(3), y=labels))
    assert class_weights(labels, 3, "none") is None
    assert class_weights(np.array([0, 0, 2]), 3, "balanced")[1] == 1.0  # an absent class
    with pytest.raises(ValueError, match="class_weight must be one of auto, none, balanced"):
        class_weights(labels, 3, "weighted")
    rng = np.random.default_rng(0)
    words = ["plot", "scene", "actor", "film", "story", "music", "camera", "script"]
    texts = [(" ".join(rng.choice(words, 6)) + (" superb" if i % 14 == 0 else ""),) for i in range(420)]
    train_labels = np.array([int(i % 14 == 0) for i in range(420)])  # the positives carry a weak cue
    train, test = Examples(tuple(texts[:300]), train_labels[:300]), Examples(tuple(texts[300:]), train_labels[300:])
    plain = LEARNERS.create("tfidf-logreg", C=0.05, class_weight="none").fit_predict(train, test, 2, seed=0)
    weighted = LEARNERS.create("tfidf-logreg", C=0.05, class_weight="balanced").fit_predict(train, test, 2, seed=0)
    assert plain.sum() == 0 and (weighted[test.labels == 1] == 1).all()
    # the default, auto, on a set this imbalanced (and no task to ask): weighted
    assert np.array_equal(LEARNERS.create("tfidf-logreg", C=0.05).fit_predict(train, test, 2, seed=0), weighted)


def test_long_loops_log_their_progress_at_intervals_and_at_the_end(caplog):
    """A line once 60 s have passed since the last one and one after the last item, each with the time left
    projected from the mean time per item so far; the items pass through unchanged."""
    import logging

    from benchmark.learners.progress import logged_steps

    ticks = iter([0.0, 25.0, 50.0, 70.0, 100.0, 140.0])  # start, then after items 1..5
    with caplog.at_level(logging.INFO, logger="benchmark.learners"):
        seen = list(logged_steps("abcde", 5, "train 3 stacked", clock=lambda: next(ticks)))
    assert seen == list("abcde")
    assert [r.getMessage() for r in caplog.records] == [
        "train 3 stacked: step 3/5, 70 s elapsed, ~47 s left",
        "train 3 stacked: step 5/5, 140 s elapsed, ~0 s left"]
