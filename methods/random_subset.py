"""random: DPC training examples per class, drawn uniformly without replacement (reference row)."""
from __future__ import annotations

import numpy as np

from methods import METHODS
from methods.base import CostModel, DistilledSet, Method, MethodCard, check_dpc, per_class_indices


@METHODS.register("random")
class RandomSubset(Method):
    """Class-balanced random subset: DPC real examples per class, seeded (reference row: Random)."""

    reference = True
    baseline = True
    uses_gpu = False  # picks examples: CPU work
    cost_model = CostModel()  # nothing on a GPU: cheap CPU work the rehearsal measures
    CARD = MethodCard(
        summary="DPC real training examples per class, drawn uniformly without replacement (reference row: Random).",
        fit_cost="nothing", distill_cost="a seeded draw per class (milliseconds)")

    def distill(self, state, dpc, seed) -> DistilledSet:
        task = state
        check_dpc(task, dpc)
        rng = np.random.default_rng(seed)
        train = task.splits.train
        chosen = [rng.choice(members, size=dpc, replace=False)
                  for members in per_class_indices(train.labels, task.num_classes)]
        indices = np.concatenate(chosen)
        return self.make_set(task, train.subset(indices), dpc, seed, source_indices=indices)
