"""The local executor: every pending cell in this process, stage by stage, with a progress bar; evaluate
cells in stacks (``benchmark.study.stacks``) where the learner trains runs together.

Cells another runner holds ("busy") are waited for at the end of their stage, and taken over if that
runner dies, so several runners can share one runs folder."""
from __future__ import annotations

import time
from collections import Counter

from tqdm.auto import tqdm

from benchmark.study.cells import STAGES
from benchmark.study.runner import run_cell, run_units, split_ready
from benchmark.study.stacks import stage_units
from benchmark.study.store import Store


def run_local(cells: dict[str, list], store: Store, progress: bool = True, poll_s: float = 0.5,
              stack: int = 1) -> dict[str, Counter]:
    """Run the cells not yet done whose parent is done (evaluate cells in stacks of up to ``stack``); returns per
    stage the count of done / skipped / failed cells and of those left for a parent that did not finish."""
    outcome = {}
    for stage in STAGES:
        pending = [cell for cell in cells[stage] if not store.is_done(stage, cell.id)]
        ready, blocked = split_ready(pending, store)
        counts = Counter(skipped=len(cells[stage]) - len(pending), **({"parent not done": len(blocked)} if blocked else {}))
        units = stage_units(stage, ready, store, stack)
        bar = tqdm(total=len(ready), desc=f"{stage:>8}", unit="cell", disable=not progress or not ready,
                   leave=True)
        busy = []
        for unit in units:
            bar.set_postfix_str(unit.cells[0].id[:60] + (f" +{len(unit.cells) - 1}" if len(unit.cells) > 1 else ""))
            statuses = run_units([unit], store)
            for cell in unit.cells:
                if statuses[cell.id] == "busy":
                    busy.append(cell)
                else:
                    counts[statuses[cell.id]] += 1
            bar.update(len(unit.cells))
        bar.close()
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
