"""zero-shot: no demonstrations at all, the lower reference row of in-context learning tables."""
from __future__ import annotations

import numpy as np

from benchmark.tasks.base import Examples
from methods import METHODS
from methods.base import CostModel, DistilledSet, Method, MethodCard


@METHODS.register("zero-shot")
class ZeroShot(Method):
    """The empty set: an in-context learner prompted with the query alone (reference row: Zero-shot).
    Learners that train cannot use it; their tables leave the row out."""

    kind = "empty"
    dpc_independent = True
    deterministic = True
    reference = True
    uses_gpu = False  # makes no examples
    cost_model = CostModel()  # nothing on a GPU: cheap CPU work the rehearsal measures
    CARD = MethodCard(
        summary="No demonstrations: in-context learners see only the query (reference row of ICL tables).",
        fit_cost="nothing", distill_cost="nothing")

    def distill(self, state, dpc, seed) -> DistilledSet:
        empty = Examples((), np.zeros(0, dtype=np.int64))
        return self.make_set(state, empty, None, seed, source_indices=np.zeros(0, dtype=np.int64))
