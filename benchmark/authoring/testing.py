"""What a method's tests need, in-tree or in a plugin package: a tiny offline task and the contract
every registered method must meet (``check_method_contract``)."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.tasks.base import Examples, Task

POSITIVE = ["a wonderful moving film", "great acting and a fine story", "i loved every minute",
            "a delightful and clever comedy", "beautiful and touching", "an excellent thriller"]
NEGATIVE = ["a dull and boring mess", "terrible acting and a weak plot", "i hated every minute",
            "a tedious and stupid comedy", "ugly and pointless", "an awful thriller"]


@dataclass
class TinySentiment(Task):
    """A tiny synthetic two-class sentiment task (120 sentences) for fast tests; not a benchmark task."""

    size_per_class: int = 60
    name = "tiny-sentiment"
    text_fields = ("sentence",)
    label_names = ("negative", "positive")

    def load_examples(self) -> Examples:
        rng = np.random.default_rng(1234)
        texts, labels = [], []
        for label, pool in ((0, NEGATIVE), (1, POSITIVE)):
            for i in range(self.size_per_class):
                texts.append((f"{pool[rng.integers(len(pool))]} number {i}",))
                labels.append(label)
        return Examples(tuple(texts), np.asarray(labels, dtype=np.int64))

    def get_params(self) -> dict:
        return {**super().get_params(), "size_per_class": self.size_per_class}


def check_method_contract(method_cls, task: Task | None = None, dpcs=(1, 3), params: dict | None = None) -> None:
    """Assert the contract of a method class, built with ``params`` or its ``TEST_PARAMS`` (cheap settings):
    its params are JSON-able and rebuild it; fit + distill return DPC examples per class with valid
    labels; the same seed gives the same set, another seed a different one (at some DPC) unless the
    method declares itself deterministic;
    the set round-trips through the store's files; distilling leaves the fit's saved state as it was (a finished fit
    cell never changes afterwards); it carries a card."""
    from methods.base import FitContext, Method, load_distilled

    task = task or TinySentiment()
    assert issubclass(method_cls, Method), f"{method_cls} must subclass methods.base.Method"
    method = method_cls(**(method_cls.TEST_PARAMS if params is None else params))
    params = method.get_params()
    assert json.loads(json.dumps(params)) == params, f"params must be JSON values: {params}"
    assert method_cls(**params).get_params() == params, "get_params() must rebuild the same method"
    assert method_cls.kind in ("text", "embedding", "empty")
    assert method_cls.CARD is not None and method_cls.CARD.summary, f"{method_cls.__name__} needs a CARD"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        state = method.fit(task, FitContext(work_dir=work / "work", seed=0))
        (work / "state").mkdir()
        method.save_state(state, work / "state")
        saved = _files(work / "state")
        state = method.load_state(work / "state", task)
        train_counts = task.splits.train.class_counts(task.num_classes)
        seed_changes_set = []
        for dpc in dpcs:
            first = method.distill(state, dpc, seed=0)
            expected = (np.zeros_like(train_counts) if method_cls.kind == "empty" else train_counts
                        if method_cls.dpc_independent else np.full(task.num_classes, dpc))
            assert list(first.per_class().values()) == expected.tolist(), f"DPC {dpc}: got {first.per_class()}"
            assert first.kind == method_cls.kind or method_cls.kind == "empty", (
                f"a {method_cls.kind} method returned a {first.kind} set")
            assert set(first.labels.tolist()) <= set(range(task.num_classes))
            if first.kind == "text":
                assert all(len(t) == len(task.text_fields) and all(isinstance(s, str) for s in t)
                           for t in first.examples.texts)
            again = method.distill(state, dpc, seed=0)
            assert first.checksum() == again.checksum(), "same seed must give the same set"
            seed_changes_set.append(method.distill(state, dpc, seed=1).checksum() != first.checksum())
            assert first.provenance["params"] == params and first.provenance["dpc"] == (
                None if method_cls.dpc_independent else dpc)
            first.save(work / f"set{dpc}")
            loaded = load_distilled(work / f"set{dpc}")
            assert loaded.checksum() == first.checksum(), "the set must round-trip through its files bit-exactly"
            assert loaded.provenance == json.loads(json.dumps(first.provenance))
        assert _files(work / "state") == saved, "distill must not write into the fit's saved state"
    if method_cls.deterministic:
        assert not any(seed_changes_set), "a deterministic method must give the same set for every seed"
    else:
        assert any(seed_changes_set), "a method whose set does not change with the seed must declare deterministic = True"


def _files(folder: Path) -> list[tuple[str, int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))
