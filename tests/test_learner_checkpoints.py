"""A long fine-tune killed mid-training resumes from its last wall-clock checkpoint and ends where an uninterrupted
run ends (same weights, to the bit); one run at a time, stacked, and through the runner on the real MiniLM."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.learners import LEARNERS, checkpoints, stacked
from benchmark.learners.checkpoints import kept_in
from dilm.checkpoint import NAME, load_state


def _dies_in_step(real, step: int | None, now: list):
    """``real`` (called once per training step) behind a fake clock that moves 40 s a step; it raises in ``step``."""
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        now[0] += 40.0
        if calls[0] == step:
            raise RuntimeError("killed (simulated)")
        return real(*args, **kwargs)
    return wrapper


def _saved(folder: Path) -> dict:
    """The one checkpoint under ``folder`` (in its training's subfolder)."""
    (path,) = folder.glob(f"*/{NAME}")
    return load_state(path.parent)


def _train_twice(monkeypatch, tmp_path, patch, run, final_weights):
    """Uninterrupted, then killed in step 4 and run again: checkpoints once a minute of the fake clock (after steps
    2, 4, ...), so the second try resumes after step 2, and both end with the same weights and predictions."""
    now, real = [0.0], getattr(*patch)
    monkeypatch.setattr(*patch, _dies_in_step(real, None, now))
    with kept_in([tmp_path / "straight"], minutes=1, clock=lambda: now[0]) as kept:
        straight = run()
    assert kept.resumed_from is None and _saved(tmp_path / "straight")["step"] == 8  # the last save follows step 8
    monkeypatch.setattr(*patch, _dies_in_step(real, 4, now))
    with kept_in([tmp_path / "killed"], minutes=1, clock=lambda: now[0]), pytest.raises(RuntimeError, match="killed"):
        run()
    assert _saved(tmp_path / "killed")["step"] == 2
    monkeypatch.setattr(*patch, _dies_in_step(real, None, now))
    with kept_in([tmp_path / "elsewhere", tmp_path / "killed"], minutes=1, clock=lambda: now[0]) as kept:
        resumed = run()
    assert kept.resumed_from == 2  # found in the second folder; the next saves go to the first
    for a, b in zip(final_weights(_saved(tmp_path / "straight")), final_weights(_saved(tmp_path / "elsewhere"))):
        assert torch.equal(a, b)
    assert _saved(tmp_path / "elsewhere")["step"] == 8
    for one, other in zip(straight, resumed):
        assert np.array_equal(one, other)
    return straight


@pytest.mark.real
def test_a_killed_stack_resumes_and_ends_as_an_uninterrupted_one(monkeypatch, tmp_path, tiny_task, tiny_learner_dir):
    splits = tiny_task.splits
    sets = [splits.train.subset(np.arange(0, len(splits.train), k)) for k in (3, 4)]
    learner = LEARNERS.create("hf-classifier", model=str(tiny_learner_dir), steps=8, lr=3e-3)  # dropout on
    straight = _train_twice(monkeypatch, tmp_path, (stacked, "_clip_per_copy"),
                            lambda: learner.fit_predict_many(sets, splits.test, 2, [0, 1]),
                            lambda state: [state["params"][k] for k in sorted(state["params"])])
    assert len(straight) == 2


@pytest.mark.real
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(monkeypatch, tmp_path, tiny_task, tiny_learner_dir):
    splits = tiny_task.splits
    learner = LEARNERS.create("hf-classifier", model=str(tiny_learner_dir), steps=8, lr=3e-3)
    _train_twice(monkeypatch, tmp_path, (torch.nn.utils, "clip_grad_norm_"),
                 lambda: [learner.fit_predict(splits.train, splits.test, 2, seed=0)],
                 lambda state: [state["model"][k] for k in sorted(state["model"])])


@pytest.mark.real
def test_a_checkpoint_of_another_training_is_not_resumed(tmp_path, tiny_task, tiny_learner_dir):
    """Other seeds (or sets, or recipe): another training, which starts from step 0 and keeps its own save beside
    the first one's."""
    splits = tiny_task.splits
    learner = LEARNERS.create("hf-classifier", model=str(tiny_learner_dir), steps=2, lr=3e-3)
    with kept_in([tmp_path], minutes=0) as kept:
        learner.fit_predict_many([splits.train, splits.train], splits.test, 2, [0, 1])
        learner.fit_predict_many([splits.train, splits.train], splits.test, 2, [1, 0])
    assert kept.resumed_from is None
    saves = [load_state(p.parent) for p in tmp_path.glob(f"*/{NAME}")]
    assert len(saves) == 2 and saves[0]["fingerprint"] != saves[1]["fingerprint"]
    with kept_in([tmp_path], minutes=0) as kept:
        learner.fit_predict_many([splits.train, splits.train], splits.test, 2, [1, 0])
    assert kept.resumed_from == 2  # its own save, after the last step: nothing left to train


def test_without_a_folder_nothing_is_saved_or_resumed(tmp_path):
    training = checkpoints.TrainingCheckpoints({"seed": 0})
    assert training.resume("cpu", optimizer=None, scheduler=None) is None
    training.save_if_due(1, lambda: pytest.fail("no folder: no state is asked for"))
    training.save_last(1, lambda: pytest.fail("no folder: no state is asked for"))


@pytest.mark.real
def test_a_stack_killed_in_a_grid_resumes_on_the_next_run(monkeypatch, tmp_path, minilm_assets, capsys):
    """Real MiniLM through the runner: a stack that dies in step 4 fails its cells but keeps its checkpoint in the
    first cell's work/training/; the next run resumes after step 3, records it, ends with the predictions of an
    uninterrupted run, and removes the checkpoint."""
    from benchmark.cli import main

    grid = tmp_path / "grid.yaml"
    grid.write_text("name: resume\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random]\n"
                    "learners: [{name: minilm, params: {steps: 6}}]\nn_sets: 2\nn_evals: 1\n")
    monkeypatch.setattr(checkpoints, "MINUTES", 0.0)  # a save after every step

    def run(runs: Path) -> int:
        return main(["run", "--grid", str(grid), "--runs-dir", str(runs), "--out", str(tmp_path / "out"),
                     "--no-progress", "--stack-runs", "2"])

    assert run(tmp_path / "straight") == 0
    real, now = stacked._clip_per_copy, [0.0]
    monkeypatch.setattr(stacked, "_clip_per_copy", _dies_in_step(real, 4, now))
    assert run(tmp_path / "runs") == 1
    cells = tmp_path / "runs" / "evaluate"
    assert len(list(cells.glob("*/error.json"))) == 2
    assert [_saved(p.parent.parent)["step"] for p in cells.glob(f"*/work/training/*/{NAME}")] == [3]
    monkeypatch.setattr(stacked, "_clip_per_copy", real)
    assert run(tmp_path / "runs") == 0
    assert not list(cells.glob("*/work/training"))
    for record in cells.glob("*/record.json"):
        body = json.loads(record.read_text())
        assert body["training_resumed_after_step"] == 3
        straight = tmp_path / "straight" / "evaluate" / body["cell_id"] / "predictions.npy"
        assert np.array_equal(np.load(record.parent / "predictions.npy"), np.load(straight))
    assert not list((tmp_path / "straight" / "evaluate").glob("*/work/training"))
    assert "resumed after step 3" in next(cells.glob("*/log.txt")).read_text()
