"""The local executor: every pending cell in this process, stage by stage, with a progress bar."""
from __future__ import annotations

from collections import Counter

from tqdm.auto import tqdm

from benchmark.cells import STAGES
from benchmark.runner import run_cell
from benchmark.store import Store


def run_local(cells: dict[str, list], store: Store, progress: bool = True) -> dict[str, Counter]:
    """Run the cells not yet done; returns per stage the count of done / skipped / failed cells."""
    outcome = {}
    for stage in STAGES:
        pending = [cell for cell in cells[stage] if not store.is_done(stage, cell.id)]
        counts = Counter(skipped=len(cells[stage]) - len(pending))
        bar = tqdm(pending, desc=f"{stage:>8}", unit="cell", disable=not progress or not pending, leave=True)
        for cell in bar:
            bar.set_postfix_str(cell.id[:60])
            counts[run_cell(cell, store)] += 1
        outcome[stage] = counts
    return outcome
