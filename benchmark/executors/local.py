"""The local executor: every pending cell in this process, stage by stage, with a progress bar.

Cells another runner holds ("busy") are waited for at the end of their stage, and taken over if that
runner dies, so several runners can share one runs folder."""
from __future__ import annotations

import time
from collections import Counter

from tqdm.auto import tqdm

from benchmark.cells import STAGES
from benchmark.runner import run_cell
from benchmark.store import Store


def run_local(cells: dict[str, list], store: Store, progress: bool = True, poll_s: float = 0.5) -> dict[str, Counter]:
    """Run the cells not yet done; returns per stage the count of done / skipped / failed cells."""
    outcome = {}
    for stage in STAGES:
        pending = [cell for cell in cells[stage] if not store.is_done(stage, cell.id)]
        counts = Counter(skipped=len(cells[stage]) - len(pending))
        bar = tqdm(pending, desc=f"{stage:>8}", unit="cell", disable=not progress or not pending, leave=True)
        busy = []
        for cell in bar:
            bar.set_postfix_str(cell.id[:60])
            status = run_cell(cell, store)
            if status == "busy":
                busy.append(cell)
            else:
                counts[status] += 1
        while busy:  # another runner has these: wait until it finishes them, or run them if it died
            time.sleep(poll_s)
            still = []
            for cell in busy:
                if store.is_done(stage, cell.id) or store.is_failed(stage, cell.id):
                    counts["done elsewhere"] += 1
                    continue
                status = run_cell(cell, store)
                (still.append(cell) if status == "busy" else counts.update([status]))
            busy = still
        outcome[stage] = counts
    return outcome
