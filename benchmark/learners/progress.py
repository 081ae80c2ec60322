"""Progress of long loops: a bar on a terminal, and lines in the cell's log, so a run with no terminal (a Slurm job,
``--no-progress``) still says how far it is and how long it has left."""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

log = logging.getLogger("benchmark.learners")

Item = TypeVar("Item")


def logged_steps(items: Iterable[Item], total: int, what: str, unit: str = "step", every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[Item]:
    """Yield ``items`` under a progress bar and log ``what: <unit> k/total, elapsed, ~left`` once ``every_s`` seconds
    have passed since the last line, and after the last item (item k's time counts once the caller asks for k + 1)."""
    start = last = clock()
    bar = tqdm(items, total=total, desc=what, unit=unit, leave=False, disable=None)
    for done, item in enumerate(bar, 1):
        yield item
        now = clock()
        if now - last >= every_s or done == total:
            elapsed = now - start
            log.info("%s: %s %d/%d, %.0f s elapsed, ~%.0f s left", what, unit, done, total, elapsed,
                     elapsed / done * (total - done))
            last = now
