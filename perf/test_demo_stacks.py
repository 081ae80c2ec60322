"""The demo's MiniLM runs (the Full-data run and the five DPC-5 sets: Random x2, Herding, K-centers x2), stacked
(``--stack-runs 16``: the five DPC-5 runs in one stack, the Full run alone) vs one at a time (``--stack-runs 1``):
wall time and peak RSS of the evaluate stage. Target: stacked is not slower in either part.

Run: ``.venv/bin/python -m pytest perf/test_demo_stacks.py --benchmark-only -s``
"""
import time

import pytest

from benchmark.study.cells import expand
from benchmark.study.executors import EXECUTORS
from benchmark.study.grid import load_grid
from benchmark.core.provenance import PeakMemory
from benchmark.study.store import Store


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The demo's fit and distill cells done once; its MiniLM evaluate cells, run by each test in a copy."""
    grid = load_grid("demo")
    grid.learners = [learner for learner in grid.learners if learner.name == "minilm"]
    cells = expand(grid)
    runs = tmp_path_factory.mktemp("demo") / "runs"
    EXECUTORS["local"]({"fit": cells["fit"], "distill": cells["distill"], "evaluate": []}, Store(runs), progress=False)
    return cells, runs


@pytest.mark.parametrize("stack", [1, 16], ids=["one-at-a-time", "stacked"])
def test_demo_minilm_runs(benchmark, prepared, tmp_path, stack):
    import shutil

    cells, runs = prepared
    measured = {}

    def work():
        copy = tmp_path / f"runs-{len(measured)}"
        shutil.copytree(runs, copy)
        t0 = time.perf_counter()
        with PeakMemory() as memory:
            EXECUTORS["local"]({"fit": [], "distill": [], "evaluate": cells["evaluate"]}, Store(copy), progress=False,
                               stack=stack)
        measured.update(wall_s=time.perf_counter() - t0, peak_rss_mib=memory.rss_mib,
                        done=len(list(Store(copy).done_records("evaluate"))))

    benchmark.pedantic(work, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    print(f"\n{'stacked' if stack > 1 else 'one at a time'}: {measured['wall_s']:.0f} s, "
          f"peak RSS {measured['peak_rss_mib']:.0f} MiB, {measured['done']} runs")
    assert measured["done"] == len(cells["evaluate"]) == 6
