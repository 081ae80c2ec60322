"""Per-cell overhead of the harness: a grid whose work is trivial (61 cells: random sets, TF-IDF on 10-40 examples)
run through the local executor and through the real local Slurm cluster (slurm/start-local.sh), where cheap cells
share array tasks. The figure is wall time / number of cells, from submission to the last record; target on Slurm:
<= 1.5 s per cell.

Run: ``.venv/bin/python -m pytest perf/test_harness_overhead.py --benchmark-only -s``
"""
import shutil
import subprocess

import pytest

from benchmark.study.cells import expand
from benchmark.study.executors import EXECUTORS
from benchmark.study.executors.slurm import load_profile
from benchmark.study.grid import parse_grid
from benchmark.study.store import Store

GRID = {"name": "overhead", "tasks": ["rt-polarity"], "dpcs": [5, 10, 20], "methods": ["random"],
        "learners": ["tfidf-logreg"], "n_sets": 10, "n_evals": 1}


def run_grid(tmp_path, executor, **options):
    cells = expand(parse_grid(dict(GRID), "overhead"))
    runs = tmp_path / f"runs-{len(list(tmp_path.iterdir()))}"
    EXECUTORS[executor](cells, Store(runs), progress=False, **options)
    total = sum(len(c) for c in cells.values())
    assert len(list(Store(runs).done_records("evaluate"))) == len(cells["evaluate"])
    return total


def test_local_executor_overhead(benchmark, tmp_path):
    total = benchmark.pedantic(lambda: run_grid(tmp_path, "local"), rounds=3, iterations=1)
    benchmark.extra_info["cells"] = total
    print(f"\nlocal: {total} cells, {benchmark.stats['mean'] / total * 1000:.0f} ms per cell")


def test_slurm_executor_overhead(benchmark, tmp_path):
    if not shutil.which("sbatch") or subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                                     text=True).stdout.strip() not in ("idle", "mixed"):
        pytest.skip("no local Slurm cluster running")
    total = benchmark.pedantic(lambda: run_grid(tmp_path, "slurm", profile=load_profile("local"), poll_s=0.5),
                               rounds=1, iterations=1)
    benchmark.extra_info["cells"] = total
    per_cell = benchmark.stats["mean"] / total
    print(f"\nslurm: {total} cells, {per_cell * 1000:.0f} ms per cell")
    assert total >= 50 and per_cell <= 1.5
