"""Stacks: the evaluate cells trained together. Runs of one task and one stackable learner on text sets of one
step shape (the same batch, min(batch size, set size)) go to the learner's ``fit_predict_many`` in chunks as wide
as its ``stack_width``: every copy of a stack computes as many packed rows as its largest batch, so a DPC-5 run
stacked with a DPC-20 one would pay for 40 sequences a step. A DPC-independent set (Full dataset) trains alone,
on the same packed path; every other cell runs alone."""
from __future__ import annotations

from typing import NamedTuple

from benchmark.study.cells import EvalCell
from benchmark.core.errors import MissingAssetError
from benchmark.learners import LEARNERS
from benchmark.study.store import Store


class Unit(NamedTuple):
    """Cells run by one call: ``run_stack`` when ``stacked``, else ``run_cell`` of its single cell."""

    cells: list[EvalCell]
    stacked: bool


def stage_units(stage: str, cells: list, store: Store, cap: int, fit_here: bool = True) -> list[Unit]:
    """The units of work of one stage, for every executor: evaluate cells in stacks (``stack_units``), every other
    cell alone."""
    return stack_units(cells, store, cap, fit_here) if stage == "evaluate" else [Unit([c], False) for c in cells]


def stack_units(cells: list[EvalCell], store: Store, cap: int, fit_here: bool = True) -> list[Unit]:
    """The cells as units of work: stacks of up to ``cap`` cells (``cap`` 1: every cell alone), narrower where
    this machine's memory calls for it (``fit_here``; a Slurm job narrows its stack itself, on its node).
    A cell whose distilled set is not done, or whose learner cannot be loaded, runs alone: its failure is
    its own."""
    from methods import METHODS

    units: list[Unit] = []
    groups: dict[tuple, list[EvalCell]] = {}
    for cell in cells:
        method = METHODS.get(cell.distill.fit.method.name)
        stackable = (cap > 1 and LEARNERS.get(cell.learner.name).stackable and method.kind == "text"
                     and store.is_done("distill", cell.distill.id))
        if not stackable:
            units.append(Unit([cell], False))
            continue
        learner = LEARNERS.create(cell.learner.name, **cell.learner.kwargs)
        size = store.record("distill", cell.distill.id)["distilled"]["n_examples"]
        batch = min(getattr(learner, "batch_size", size), size)
        alone = cell.id if method.dpc_independent else ""  # the Full-data run: a stack of its own
        groups.setdefault((cell.distill.fit.task.key, cell.learner.key, batch, alone), []).append(cell)
    for (_, _, largest, _), group in groups.items():
        learner = LEARNERS.create(group[0].learner.name, **group[0].learner.kwargs)
        try:
            width = learner.stack_width(cap, largest) if fit_here else cap
        except MissingAssetError:
            units += [Unit([cell], False) for cell in group]
            continue
        units += [Unit(group[i:i + width], True) for i in range(0, len(group), width)]
    return units
