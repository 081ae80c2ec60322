"""Task splits: seeded, stratified, disjoint, validation carved from train; the real rt-polarity data."""
import numpy as np
import pytest

from benchmark.tasks import TASKS
from benchmark.tasks.base import stratified_split


def _as_set(examples):
    return set(zip(examples.texts, examples.labels.tolist()))


def test_split_is_deterministic_for_a_seed_and_changes_with_it(tiny_task):
    again = TASKS.create("tiny-sentiment")
    other = TASKS.create("tiny-sentiment", split_seed=1)
    assert tiny_task.splits.checksums() == again.splits.checksums()
    assert tiny_task.splits.checksums()["test"] != other.splits.checksums()["test"]


def test_splits_are_disjoint_stratified_and_cover_the_data(tiny_task):
    splits = tiny_task.splits
    train, validation, test = _as_set(splits.train), _as_set(splits.validation), _as_set(splits.test)
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert len(train) + len(validation) + len(test) == 120
    assert splits.sizes() == {"train": 97, "validation": 11, "test": 12}
    for part in (splits.train, splits.validation, splits.test):
        counts = part.class_counts(2)
        assert abs(int(counts[0]) - int(counts[1])) <= 1  # both classes are 50%: stratified halves


def test_stratified_split_keeps_class_proportions():
    labels = np.array([0] * 900 + [1] * 100)
    kept, held = stratified_split(labels, 0.2, seed=7)
    assert len(held) == 200 and np.bincount(labels[held]).tolist() == [180, 20]
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(1000))


def test_a_split_is_scikit_learns_and_is_read_back_from_the_cache_without_importing_it(tmp_path, monkeypatch):
    import subprocess
    import sys

    from sklearn.model_selection import train_test_split

    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path))
    labels = np.random.default_rng(3).integers(0, 3, 500)
    kept, held = stratified_split(labels, 0.1, seed=11)
    ref_kept, ref_held = train_test_split(np.arange(500), test_size=0.1, stratify=labels, random_state=11)
    assert kept.tolist() == sorted(ref_kept) and held.tolist() == sorted(ref_held)
    assert len(list((tmp_path / "splits").glob("*.npz"))) == 1
    code = ("import sys, numpy as np; from benchmark.tasks.base import stratified_split; "
            "k, h = stratified_split(np.random.default_rng(3).integers(0, 3, 500), 0.1, seed=11); "
            "print('sklearn' in sys.modules, int(k.sum()), int(h.sum()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "DILM_BENCH_CACHE": str(tmp_path)}).stdout.split()
    assert out == ["False", str(kept.sum()), str(held.sum())]
    (next((tmp_path / "splits").glob("*.npz"))).write_bytes(b"damaged")  # a damaged entry is recomputed
    assert stratified_split(labels, 0.1, seed=11)[1].tolist() == held.tolist()


def test_checksum_depends_on_content_and_order(tiny_task):
    train = tiny_task.splits.train
    assert train.checksum() == train.subset(np.arange(len(train))).checksum()
    assert train.checksum() != train.subset(np.arange(len(train))[::-1]).checksum()
    assert len(train.checksum()) == 16


@pytest.mark.real
def test_real_rt_polarity(rt_assets):
    task = TASKS.create("rt-polarity")
    splits = task.splits
    sizes = splits.sizes()
    total = sum(sizes.values())
    assert 10_300 <= total <= 10_500  # ~10.4k sentences after the join
    assert sizes["test"] == round(total * 0.1) or abs(sizes["test"] - total * 0.1) <= 1
    counts = splits.train.class_counts(2)
    assert 0.49 < counts[1] / counts.sum() < 0.51
    assert all(len(t) == 1 and t[0].strip() for t in splits.train.texts)
    assert not (_as_set(splits.train) & _as_set(splits.test))
    # the same seed gives the same split in a fresh object (checksums recorded in results stay valid)
    assert TASKS.create("rt-polarity").splits.checksums() == splits.checksums()
    described = task.describe()
    assert described["split_sizes"] == sizes and set(described["split_checksums"]) == {"train", "validation", "test"}


KNOWN_SIZES = {"rt-polarity": 10451, "trec6": 5381, "sms-spam": 4512, "bbc-news": 2125}  # after de-duplication


def offline_task_names():
    from benchmark.tasks.hub import HubTask

    return [n for n in TASKS.names() if not issubclass(TASKS.get(n), HubTask) and n != "custom"]  # custom: own tests


@pytest.mark.real
@pytest.mark.parametrize("name", offline_task_names())
def test_task_contract(name):
    """Every registered task: loads, seeded stratified disjoint splits, every class in every split."""
    from benchmark.core.errors import MissingAssetError

    from conftest import IN_CI

    task = TASKS.create(name)
    try:
        splits = task.splits
    except MissingAssetError as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))
    assert task.metric in ("accuracy", "macro_f1") and len(task.label_names) >= 2 and task.text_fields
    if name in KNOWN_SIZES:
        assert sum(splits.sizes().values()) == KNOWN_SIZES[name]
    full = np.concatenate([splits.train.labels, splits.validation.labels, splits.test.labels])
    for part in (splits.train, splits.validation, splits.test):
        assert (part.class_counts(task.num_classes) > 0).all()
        expected = np.bincount(full, minlength=task.num_classes) / len(full) * len(part)
        assert np.abs(part.class_counts(task.num_classes) - expected).max() <= 1.5  # stratified
        assert all(len(t) == len(task.text_fields) and all(s.strip() for s in t) for t in part.texts)
    assert not (_as_set(splits.train) & _as_set(splits.test))
    assert TASKS.create(name).splits.checksums() == splits.checksums()


def test_hub_tasks_without_the_hub_fail_clearly_and_name_the_offline_tasks(tmp_path):
    """No hub here or in CI: the hub tasks' error says so and names the offline tasks (HF offline mode makes
    the failure immediate; without it the hub client retries for ~25 s, then fails the same way)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-m", "benchmark", "run", "--tasks", "sst2", "--methods", "random",
                             "--learners", "tfidf-logreg", "--runs-dir", "runs"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot load hub dataset nyu-mll/glue/sst2" in result.stderr
    assert "offline tasks: rt-polarity, trec6, sms-spam, bbc-news" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_hub_pair_tasks_declare_two_fields_and_their_metric():
    assert TASKS.get("qqp").text_fields == ("question1", "question2") and TASKS.get("qqp").metric == "acc_and_f1"
    assert TASKS.get("mnli").text_fields == ("premise", "hypothesis") and TASKS.get("mnli").hub_test == "validation_matched"
    assert TASKS.get("sst2").hub_test == "validation"


@pytest.mark.real
def test_scoring_on_validation_never_reads_the_test_split(rt_assets):
    """score_on: validation (for choosing settings): the scored split is the validation split, the methods' own
    validation split is carved again from train, and no test text is in any split."""
    from benchmark.tasks import TASKS

    plain, tuning = TASKS.create("rt-polarity"), TASKS.create("rt-polarity", score_on="validation")
    test = set(plain.splits.test.texts)
    assert tuning.splits.test.texts == plain.splits.validation.texts
    for split in ("train", "validation", "test"):
        assert not test & set(getattr(tuning.splits, split).texts)
    assert not set(tuning.splits.validation.texts) & set(tuning.splits.test.texts)
    assert len(tuning.splits.train) + len(tuning.splits.validation) == len(plain.splits.train)
    assert tuning.describe()["name"] == "rt-polarity (validation)" and plain.describe()["name"] == "rt-polarity"
    with pytest.raises(Exception, match="score_on must be 'test' or 'validation'"):
        TASKS.create("rt-polarity", score_on="train").splits
