"""Cheap cells on the real local Slurm (slurm/start-local.sh): 82 TF-IDF and bag-of-n-grams evaluate cells (about
half a second of work each) bundled into array tasks of >= 60 s of estimated work, against the same grid on the
local executor. Target: <= 1.5 s per cell amortised (the Slurm run's wall time / its cells).

Run: ``.venv/bin/python -m pytest perf/test_slurm_amortisation.py --benchmark-only -s``
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.study.store import Store

ROOT = Path(__file__).resolve().parent.parent
GRID = ("name: amortised\ntasks: [rt-polarity]\ndpcs: [5, 10]\nmethods: [full, random]\n"
        "learners: [tfidf-logreg, {name: bow-ngrams, params: {steps: 20}}]\nn_sets: 20\nn_evals: 1\n")
CELLS = 2 * (1 + 2 * 20)  # per learner: Full once, Random at 2 DPCs x 20 sets


def run(folder: Path, *args) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmark", "run", "--grid", "g.yaml", "--no-progress", *args],
                          cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.perf_counter() - t0


@pytest.mark.parametrize("executor", ["local", "slurm"])
def test_cheap_cells_amortised(benchmark, tmp_path, executor):
    if not shutil.which("sbatch"):
        pytest.skip("no local Slurm cluster (bash slurm/start-local.sh, as root)")
    (tmp_path / "g.yaml").write_text(GRID)
    measured = {}

    def work():
        runs = f"runs-{len(measured)}"
        wall = run(tmp_path, "--executor", executor, "--runs-dir", runs, "--no-html")
        cells = len(list(Store(tmp_path / runs).done_records("evaluate")))
        tasks = len(list((tmp_path / runs / "_submitit" / "evaluate").glob("*_result.pkl")))
        measured.update(wall_s=wall, cells=cells, per_cell_s=wall / cells, array_tasks=tasks)

    benchmark.pedantic(work, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    print(f"\n{executor}: {measured['cells']} cells in {measured['wall_s']:.0f} s "
          f"({measured['per_cell_s']:.2f} s/cell, {measured['array_tasks']} evaluate array tasks)")
    assert measured["cells"] == CELLS == 82
    if executor == "slurm":
        assert measured["per_cell_s"] <= 1.5
