"""full and random: what they select, balance, determinism per seed, DPC errors, round trip through disk."""
import numpy as np
import pytest

from benchmark.core.errors import UsageError
from methods import METHODS
from methods.base import DistilledSet


def test_random_is_class_balanced_distinct_and_seeded(tiny_task):
    method = METHODS.create("random")
    state = method.fit(tiny_task, None)
    train = tiny_task.splits.train
    for dpc in (1, 5, 20):
        a = method.distill(state, dpc, seed=0)
        assert a.per_class() == {"negative": dpc, "positive": dpc}
        assert len(set(a.source_indices.tolist())) == 2 * dpc
        # selected rows are the train rows they claim to be
        assert [train.texts[i] for i in a.source_indices] == list(a.examples.texts)
        assert np.array_equal(train.labels[a.source_indices], a.examples.labels)
        b = method.distill(state, dpc, seed=0)
        assert np.array_equal(a.source_indices, b.source_indices)
    assert not np.array_equal(method.distill(state, 5, 0).source_indices, method.distill(state, 5, 1).source_indices)


def test_random_refuses_a_dpc_larger_than_a_class(tiny_task):
    method = METHODS.create("random")
    largest = int(tiny_task.splits.train.class_counts(2).min())
    method.distill(tiny_task, largest, seed=0)
    with pytest.raises(UsageError, match=r"DPC 1000 is larger than class 'negative' of task 'tiny-sentiment'"):
        method.distill(tiny_task, 1000, seed=0)


def test_full_is_the_whole_train_split(tiny_task):
    method = METHODS.create("full")
    distilled = method.distill(method.fit(tiny_task, None), None, 0)
    assert distilled.examples.checksum() == tiny_task.splits.train.checksum()
    assert method.dpc_independent and method.deterministic and method.reference


def test_distilled_set_round_trips_with_provenance(tiny_task, tmp_path):
    distilled = METHODS.create("random").distill(tiny_task, 3, seed=4)
    distilled.save(tmp_path)
    loaded = DistilledSet.load(tmp_path)
    assert loaded.examples.checksum() == distilled.examples.checksum()
    assert np.array_equal(loaded.source_indices, distilled.source_indices)
    assert loaded.provenance == distilled.provenance
    assert loaded.provenance["method"] == "random" and loaded.provenance["dpc"] == 3
    assert loaded.provenance["train_checksum"] == tiny_task.splits.train.checksum()
    first = (tmp_path / "distilled.jsonl").read_text().splitlines()[0]
    assert '"sentence":' in first and '"label_name":' in first
    assert loaded.pool is None and not (tmp_path / DistilledSet.POOL).exists()


def test_a_set_keeps_the_pool_it_was_chosen_from(tiny_task, tmp_path):
    """A generator's set carries its candidates (texts and labels) to disk and back, beside the set's rows."""
    distilled = METHODS.create("random").distill(tiny_task, 2, seed=0)
    pool = tiny_task.splits.train.subset([0, 1, 2, 3, 4, 5])
    distilled.pool = pool
    distilled.save(tmp_path)
    loaded = DistilledSet.load(tmp_path)
    assert loaded.pool.texts == pool.texts and loaded.pool.labels.tolist() == pool.labels.tolist()
    assert loaded.examples.checksum() == distilled.examples.checksum()
    assert np.array_equal(loaded.source_indices, distilled.source_indices)
    assert len((tmp_path / DistilledSet.POOL).read_text().splitlines()) == 6


def test_get_params_reads_the_constructor():
    from benchmark.learners import LEARNERS

    assert METHODS.create("random").get_params() == {}
    recipe = LEARNERS.create("minilm", steps=7).get_params()
    assert recipe["steps"] == 7 and recipe["lr"] == 1e-4 and recipe["warmup_ratio"] == 0.5
    assert LEARNERS.create("tfidf-logreg").get_params() == {"ngram_max": 2, "C": 1.0, "max_iter": 1000, "class_weight": "auto"}
