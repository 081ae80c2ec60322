"""What a fine-tune's checkpoint costs: a stack of N copies (default 5) of a learner (default MiniLM; set
``CKPT_BENCH_LEARNER=mpnet-base``) trains 4 steps on a DPC-10 rt-polarity set with a save after every step (plus
the last one), against the same 4 steps without saves: the seconds one save adds and the bytes it writes.

Run: ``.venv/bin/python -m pytest perf/test_learner_checkpoint_cost.py --benchmark-only -s``
"""
import os
import time

import pytest

from benchmark.learners import LEARNERS
from benchmark.learners.checkpoints import kept_in
from benchmark.tasks import TASKS
from methods import METHODS

LEARNER = os.environ.get("CKPT_BENCH_LEARNER", "minilm")
COPIES = int(os.environ.get("CKPT_BENCH_COPIES", "5"))
STEPS = 4


def test_a_stack_checkpoint(benchmark, tmp_path):
    task = TASKS.create("rt-polarity")
    train = METHODS.create("random").distill(task, 10, seed=0).examples
    learner = LEARNERS.create(LEARNER, steps=STEPS)

    def run():
        return learner.fit_predict_many([train] * COPIES, task.splits.test, task.num_classes, list(range(COPIES)))

    t0 = time.perf_counter()
    run()
    plain = time.perf_counter() - t0

    def kept():
        with kept_in([tmp_path], minutes=0):
            run()

    benchmark.pedantic(kept, rounds=1, iterations=1)
    saves = STEPS + 1
    (checkpoint,) = tmp_path.glob("*/checkpoint.pt")
    size = checkpoint.stat().st_size
    per_save = (benchmark.stats.stats.mean - plain) / saves
    benchmark.extra_info.update(learner=LEARNER, copies=COPIES, plain_s=round(plain, 2), saves=saves,
                                seconds_per_save=round(per_save, 2), checkpoint_bytes=size)
    print(f"\n{LEARNER} x {COPIES}: {size / 2 ** 30:.2f} GiB a checkpoint, {per_save:.1f} s a save "
          f"({STEPS} steps: {plain:.1f} s without saves)")
    assert size > 0
