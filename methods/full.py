"""full: the whole train split, the upper reference row (Full dataset)."""
from __future__ import annotations

import numpy as np

from methods import METHODS
from methods.base import CostModel, DistilledSet, Method, MethodCard


@METHODS.register("full")
class Full(Method):
    """The whole train split (reference upper bound: Full dataset)."""

    dpc_independent = True
    deterministic = True
    reference = True
    upper_bound = True
    uses_gpu = False  # copies the train split: CPU work
    cost_model = CostModel()  # nothing on a GPU: cheap CPU work the rehearsal measures
    CARD = MethodCard(
        summary="The whole train split: the upper reference row (Full dataset); the same set under every DPC.",
        fit_cost="nothing", distill_cost="nothing (the train split as it is)")

    def distill(self, state, dpc, seed) -> DistilledSet:
        train = state.splits.train
        return self.make_set(state, train, None, seed, source_indices=np.arange(len(train)))
