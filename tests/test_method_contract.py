"""The method contract, parametrised over every registered method, plugins included (timm style):
a new method gets these tests for free."""
import pytest

from benchmark.core.cache import cache_root
from benchmark.core.errors import MissingAssetError
from benchmark.authoring.testing import TinySentiment, check_method_contract
from methods import METHODS

from conftest import IN_CI


def external_sets(root):
    """Sets for the `external` method to read: random sets of the tiny task, in the export layout."""
    task = TinySentiment()
    for dpc in (1, 3):
        for seed in (0, 1):
            folder = root / task.name / f"dpc_{dpc}"
            folder.mkdir(parents=True, exist_ok=True)
            METHODS.create("random").distill(task, dpc, seed).save(folder)
            (folder / "distilled.jsonl").rename(folder / f"dataset_{seed}.jsonl")
    return {"path": str(root), "label": "tiny sets"}


@pytest.mark.parametrize("name", METHODS.names())
def test_method_contract(name, tmp_path, monkeypatch):
    models = cache_root() / "models"  # converted checkpoints (SmolLM2) are reused, not re-converted per test
    models.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(models)
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))
    params = external_sets(tmp_path / "sets") if name == "external" else None
    try:
        check_method_contract(METHODS.get(name), params=params)
    except MissingAssetError as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))


def test_every_method_has_a_card_with_costs():
    for name in METHODS.names():
        card = METHODS.get(name).CARD
        assert card is not None and card.summary and card.fit_cost and card.distill_cost, name


def test_the_contract_catches_a_distill_that_writes_into_the_fit_state():
    """A method that keeps its distill-time files in the fit's saved state (a finished cell) fails the contract."""
    from methods.full import Full

    class Scribbling(Full):
        def save_state(self, state, directory):
            self._state_dir = directory

        def distill(self, state, dpc, seed):
            (self._state_dir / f"chunk{seed}.json").write_text("[]")
            return super().distill(state, dpc, seed)

    with pytest.raises(AssertionError, match="saved state"):
        check_method_contract(Scribbling)
