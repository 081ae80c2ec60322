"""Progress lines in a cell's log for long loops: a run with no terminal (a Slurm job, ``--no-progress``) still
says how far it is and how long it has left, where a progress bar would show nothing."""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator, TypeVar

log = logging.getLogger("benchmark.learners")

Item = TypeVar("Item")


def logged_steps(items: Iterable[Item], total: int, what: str, unit: str = "step", every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[Item]:
    """Yield ``items`` and log ``what: <unit> k/total, elapsed, ~left`` once ``every_s`` seconds have passed since
    the last line, and after the last item (item k's time counts once the caller asks for item k + 1)."""
    start = last = clock()
    for done, item in enumerate(items, 1):
        yield item
        now = clock()
        if now - last >= every_s or done == total:
            elapsed = now - start
            log.info("%s: %s %d/%d, %.0f s elapsed, ~%.0f s left", what, unit, done, total, elapsed,
                     elapsed / done * (total - done))
            last = now
