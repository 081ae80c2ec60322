"""The fidelity judge on rt-polarity: building it (C chosen on validation, then the 5 fold judges that read train-split
texts out of sample) and measuring one set. Target: the judge adds under a minute to a run, and a set is measured
in well under a second.

Run: ``.venv/bin/python -m pytest perf/test_judge_speed.py --benchmark-only -s``
"""
import numpy as np
import pytest

from benchmark.study.fidelity import Judge, SplitIndex, fidelity
from benchmark.tasks import load_task


@pytest.fixture(scope="module")
def task():
    task = load_task("rt-polarity")
    task.splits  # noqa: B018 (loaded and split outside the timing)
    return task


def test_building_the_judge_and_its_fold_judges(benchmark, task):
    def build():
        judge = Judge(task)
        judge.held_out  # noqa: B018 (the whole-train judge, then the fold judges)
        return judge

    judge = benchmark.pedantic(build, rounds=2, iterations=1)
    assert judge.folds == 5
    print(f"\njudge + {judge.folds} fold judges on {len(task.splits.train)} train texts: "
          f"{benchmark.stats.stats.mean:.1f} s")


def test_measuring_a_dpc_20_set_of_train_texts(benchmark, task):
    judge, index = Judge(task), SplitIndex(task.splits.test.texts)
    judge.held_out  # noqa: B018 (built outside the timing)
    train = task.splits.train
    rows = np.r_[np.flatnonzero(train.labels == 0)[:20], np.flatnonzero(train.labels == 1)[:20]]
    texts, labels = [train.texts[i] for i in rows], train.labels[rows]
    measures = benchmark(fidelity, texts, labels, judge, index)
    assert measures["n_texts"] == 40
    print(f"\none DPC-20 set (40 train texts, judged out of fold): {benchmark.stats.stats.mean * 1000:.0f} ms")
