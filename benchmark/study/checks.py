"""A parsed grid checked against the registries and the data: the one place a grid's names, hyper-parameters
and DPCs are validated (``load_grid`` checks the file's structure and the command line's flags with it)."""
from __future__ import annotations

from benchmark.core.errors import UsageError
from benchmark.core.registry import checked_params, without_defaults
from benchmark.study.grid import Component, Grid


def check_grid(grid: Grid, load_data: bool = True) -> Grid:
    """Every name exists, every hyper-parameter is accepted and of its type (numbers written as text become
    numbers), every method's preset resolves for every task, every DPC fits every class (checked only with
    ``load_data``: a dry run never reads a dataset or touches a hub): the grid with its parameters checked
    and its defaults dropped (so ``minilm`` and ``minilm`` with its default steps are one learner), or
    UsageError naming the grid file and the component."""
    from benchmark.learners import LEARNERS
    from benchmark.tasks import TASKS, load_task
    from methods import METHODS
    from methods.base import check_dpc

    def checked(registry, components, where):
        out = []
        for component in components:
            factory = registry.get(component.name)
            params = checked_params(factory, component.kwargs, f"grid {grid.source}: {where} {component.name!r}")
            try:
                factory(**params)
                for task in grid.tasks:  # a method's preset resolves per task (e.g. DiLM's)
                    getattr(factory, "resolved_config", lambda *_: None)(params, task.name)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"grid {grid.source}: {where} {component.name!r}: bad params {params}: {exc}") from None
            out.append(Component(component.name, tuple(sorted(without_defaults(factory, params).items()))))
        return out

    learners = checked(LEARNERS, grid.learners, "learner")
    grid.learner_dpcs = {new: grid.learner_dpcs[old] for old, new in zip(grid.learners, learners)
                         if old in grid.learner_dpcs}
    grid.learners = learners
    grid.methods = checked(METHODS, grid.methods, "method")
    grid.tasks = checked(TASKS, grid.tasks, "task")
    _one_name_per_task(grid, TASKS)
    methods = [METHODS.create(m.name, **m.kwargs) for m in grid.methods]
    if load_data:
        for component in grid.tasks:
            task = load_task(component.name, component.params)
            _two_classes(task, component, grid.source)
            if any(not method.dpc_independent for method in methods):
                check_dpc(task, max(grid.dpcs))
    return grid


def _one_name_per_task(grid: Grid, tasks) -> None:
    """Two different task entries that records and tables would name alike (two specs declaring one ``name``) would
    be merged into one column: UsageError naming both."""
    seen: dict[str, Component] = {}
    for component in grid.tasks:
        try:
            name = tasks.create(component.name, **component.kwargs).record_name
        except UsageError:  # a spec that cannot be read fails with its own message where the task is loaded
            continue
        if name in seen and seen[name] != component:
            raise UsageError(f"grid {grid.source}: two tasks are named {name!r} ({_where(seen[name])} and "
                             f"{_where(component)}): their results would be merged into one column; give each its "
                             f"own name (the spec's `name`)")
        seen[name] = component


def _where(component: Component) -> str:
    return component.kwargs.get("spec") or f"{component.name} {component.kwargs}"


def _two_classes(task, component: Component, source: str) -> None:
    """A task whose train split holds fewer than two classes cannot train a classifier or its judge: UsageError."""
    import numpy as np

    counts = task.splits.train.class_counts(task.num_classes)
    if np.count_nonzero(counts) < 2:
        present = {name: int(n) for name, n in zip(task.label_names, counts) if n}
        raise UsageError(f"grid {source}: task {task.name!r} ({_where(component)}): its train split holds "
                         f"{np.count_nonzero(counts)} class(es) {present}; a classification task needs at least two: "
                         f"check its label column (label_field) and that the file holds every class")
