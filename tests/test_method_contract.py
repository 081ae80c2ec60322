"""The method contract, parametrised over every registered method, plugins included (timm style):
a new method gets these tests for free."""
import pytest

from benchmark.errors import MissingAssetError
from benchmark.testing import check_method_contract
from methods import METHODS

from conftest import IN_CI


@pytest.mark.parametrize("name", METHODS.names())
def test_method_contract(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))
    try:
        check_method_contract(METHODS.get(name))
    except MissingAssetError as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))


def test_every_method_has_a_card_with_costs():
    for name in METHODS.names():
        card = METHODS.get(name).CARD
        assert card is not None and card.summary and card.fit_cost and card.distill_cost, name
