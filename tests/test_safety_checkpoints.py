"""Checkpoints without pickle (#51): a checkpoint is a safetensors file with its other state as JSON; an old pickled
``checkpoint.pt`` (which could run code when unpickled) is refused unopened and the training starts over; a damaged
checkpoint is moved aside and the training starts over; a resumed training ends as an uninterrupted one."""
import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dilm import checkpoint
from dilm.checkpoint import LEGACY, NAME, load_state


class WritesAMarker:
    """Unpickling this runs ``open(marker, "w")``: what a crafted checkpoint on a shared filesystem could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def crafted(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 3, "model": {}, "payload": WritesAMarker(marker)}, folder / LEGACY)
    return folder / LEGACY


def test_the_crafted_checkpoint_would_run_code_when_unpickled(tmp_path):
    """The fixture is live: plain unpickling does create the marker (so the tests below can fail)."""
    path = crafted(tmp_path / "probe", tmp_path / "probe-marker")
    torch.load(path, weights_only=False)
    assert (tmp_path / "probe-marker").exists()


def test_a_pickled_checkpoint_is_refused_unopened_and_the_training_starts_over(tmp_path, caplog):
    marker = tmp_path / "marker"
    path = crafted(tmp_path / "work", marker)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    with caplog.at_level(logging.WARNING, logger="dilm"):
        assert checkpoint.load(tmp_path / "work", model, optimizer, scheduler) == (0, {})  # from scratch
    assert not marker.exists()
    (aside,) = (tmp_path / "work").glob(f"{LEGACY}.refused-*")
    assert not path.exists() and aside.read_bytes()[:2] == b"PK"  # kept for a look, never read
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"refused file {path}: a pickled checkpoint of an earlier version, never opened "
                           "(unpickling can run code); the training starts over; moved aside to")


def test_a_learners_training_refuses_a_pickled_checkpoint(tmp_path):
    from benchmark.learners.checkpoints import TrainingCheckpoints, kept_in

    marker = tmp_path / "marker"
    with kept_in([tmp_path / "training"], minutes=0):
        training = TrainingCheckpoints({"seed": 0})
        crafted(tmp_path / "training" / training.fingerprint[:16], marker)
        assert training.resume("cpu", optimizer=None, scheduler=None) is None and training.start == 0
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other format"])
def test_a_damaged_checkpoint_is_set_aside_and_the_training_starts_over(tmp_path, caplog, damage):
    path = checkpoint.save_state(tmp_path, {"step": 4, "weights": torch.ones(1000)})
    data = path.read_bytes()
    if damage == "other format":
        from safetensors.torch import save_file

        save_file({"x": torch.ones(2)}, str(path), metadata={"format": "something else"})
    else:
        path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00garbage" * 50, "empty": b""}[damage])
    with caplog.at_level(logging.WARNING, logger="dilm"):
        assert load_state(tmp_path) is None
    assert not path.exists() and len(list(tmp_path.glob(f"{NAME}.damaged-*"))) == 1
    assert f"damaged file {path}: does not load" in caplog.text and "the training starts over" in caplog.text
    checkpoint.save_state(tmp_path, {"step": 5})
    assert load_state(tmp_path) == {"step": 5}  # the next save is read again


def test_a_checkpoint_holds_the_state_as_it_was(tmp_path):
    """Tensors (any dtype), arrays, tuples, int-keyed dicts (optimizer state), big ints (NumPy's PCG64 state) and
    non-finite floats come back as they were saved; the file is safetensors, its metadata JSON."""
    from safetensors import safe_open

    state = {"step": 7, "w": torch.randn(3, 4), "h": torch.ones(2, dtype=torch.bfloat16), "ids": [[1, 2], [3]],
             "clusters": [np.arange(4, dtype=np.int32)], "betas": (0.9, 0.999), "state": {0: {"step": torch.tensor(3.)}},
             "pcg": np.random.default_rng(1).bit_generator.state, "loss": [float("nan"), float("inf"), 1.5],
             "rng": checkpoint.rng_state(), "none": None}
    path = checkpoint.save_state(tmp_path, state)
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["state"])["step"] == 7
    back = load_state(tmp_path)
    assert torch.equal(back["w"], state["w"]) and back["h"].dtype == torch.bfloat16
    assert back["clusters"][0].dtype == np.int32 and np.array_equal(back["clusters"][0], np.arange(4))
    assert back["betas"] == (0.9, 0.999) and list(back["state"]) == [0] and back["pcg"] == state["pcg"]
    assert back["ids"] == [[1, 2], [3]] and np.isnan(back["loss"][0]) and back["loss"][1:] == [float("inf"), 1.5]
    assert back["rng"]["python"] == state["rng"]["python"] and torch.equal(back["rng"]["torch"], state["rng"]["torch"])
    assert back["none"] is None
    with pytest.raises(TypeError, match="not object"):
        checkpoint.save_state(tmp_path, {"x": object()})
    assert load_state(tmp_path)["step"] == 7  # a failed save leaves the last one


def _train(steps: int, folder: Path, stop_after: int | None = None) -> torch.nn.Module:
    """A small model trained ``steps`` steps of AdamW with a decaying rate, dropout and random batches (every RNG
    in play), checkpointing after every step into ``folder`` and resuming from it; ``stop_after``: killed then."""
    torch.manual_seed(0)
    np.random.seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.9 ** step)
    start, _ = checkpoint.load(folder, model, optimizer, scheduler)
    for step in range(start, steps):
        x = torch.randn(8, 4) + float(np.random.rand())
        loss = torch.nn.functional.cross_entropy(model(x), (x.sum(1) > 0).long())
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        checkpoint.save(folder, step + 1, model, optimizer, scheduler, {"history": [loss.item()]})
        if stop_after == step + 1:
            break
    return model


def test_a_resumed_training_ends_as_an_uninterrupted_one(tmp_path):
    straight = _train(6, tmp_path / "straight")
    _train(6, tmp_path / "killed", stop_after=3)
    torch.manual_seed(123)  # the resumed process's RNGs start elsewhere: the checkpoint restores them
    np.random.seed(123)
    resumed = _train(6, tmp_path / "killed")
    assert load_state(tmp_path / "killed")["step"] == 6
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.real
@pytest.mark.parametrize("damage", ["truncated", "pickled"])
def test_a_run_whose_learner_checkpoint_is_damaged_ends_with_a_clean_runs_scores(monkeypatch, tmp_path, capsys,
                                                                                tiny_learner_dir, damage):
    """Through the runner: a fine-tune killed in step 4 leaves its checkpoint in its cell's work/training/; damaged
    (cut in half) or replaced by a crafted pickle, the next run warns, trains from step 0 and ends with the
    predictions of an uninterrupted run."""
    from benchmark.cli import main
    from benchmark.learners import checkpoints, stacked

    marker = tmp_path / "marker"
    (tmp_path / "grid.yaml").write_text(
        "name: ck\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random]\n"
        f"learners: [{{name: hf-classifier, params: {{model: '{tiny_learner_dir}', steps: 6, lr: 0.003}}}}]\n")
    monkeypatch.setattr(checkpoints, "MINUTES", 0.0)  # a save after every step

    def run(runs: str) -> int:
        return main(["run", "--grid", str(tmp_path / "grid.yaml"), "--runs-dir", str(tmp_path / runs),
                     "--out", str(tmp_path / "out"), "--no-progress"])

    assert run("straight") == 0
    calls = [0]

    def dies_in_step_4(real):  # once per step, whether the cell trains alone or in a stack
        def step(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 4:
                raise RuntimeError("killed (simulated)")
            return real(*args, **kwargs)
        return step

    with monkeypatch.context() as patched:
        patched.setattr(torch.nn.utils, "clip_grad_norm_", dies_in_step_4(torch.nn.utils.clip_grad_norm_))
        patched.setattr(stacked, "_clip_per_copy", dies_in_step_4(stacked._clip_per_copy))
        assert run("runs") == 1
    (saved,) = (tmp_path / "runs" / "evaluate").glob(f"*/work/training/*/{NAME}")
    if damage == "truncated":
        saved.write_bytes(saved.read_bytes()[:200])
    else:
        saved.unlink()
        crafted(saved.parent, marker)
    capsys.readouterr()
    assert run("runs") == 0
    err = capsys.readouterr().err
    assert ("damaged file" if damage == "truncated" else "refused file") in err and not marker.exists()
    (record,) = (tmp_path / "runs" / "evaluate").glob("*/record.json")
    assert "training_resumed_after_step" not in json.loads(record.read_text())  # started over
    straight = tmp_path / "straight" / "evaluate" / record.parent.name / "predictions.npy"
    assert np.array_equal(np.load(record.parent / "predictions.npy"), np.load(straight))
    assert json.loads(record.read_text())["metrics"] == json.loads(straight.with_name("record.json").read_text())["metrics"]
