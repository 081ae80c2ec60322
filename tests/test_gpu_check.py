"""``perf/gpu_check.py`` (the paper grid's stages on real-size models, for a GPU) runs end to end at tiny widths on the
CPU, so it cannot rot before a GPU is at hand."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"dilm stage 1 LM step (packed)", "dilm stage 1 LM step (padded)", "dilm stage 2 generator step",
          "dilm stage 2 learner step", "dilm stage 2 pool [CLS] states", "candidate decoding (per decode step)",
          "tdd outer step", "evaluation stacked step", "evaluation step (one run)",
          "k-means++ init + 1 Lloyd iteration(s)", "k-means++ init + 6 Lloyd iteration(s)",
          "k-means Lloyd iteration (the two above)"}


def _run(*args, cwd=ROOT):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(ROOT / "perf" / "gpu_check.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_gpu_check_runs_every_stage_at_tiny_widths(tmp_path):
    out = tmp_path / "check"
    result = _run("--tiny", "--device", "cpu", "--gpu", "h200", "--out", str(out), cwd=tmp_path)  # no hub, no assets
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(out / "gpu-check.csv")
    assert set(table["stage"]) == STAGES
    assert set(table["model"]) >= {"gpt2", "bert-base-uncased", "roberta-base", "bert-large-uncased",
                                   "xlnet-base-cased", "torch k-means"}
    # rows measured directly take time; a difference of two runs (a fine-tune's step, a Lloyd iteration) can be lost
    # in this machine's noise at tiny widths, but is never negative
    difference = table["stage"].str.startswith(("evaluation", "k-means Lloyd"))
    assert (table.loc[~difference, "seconds_per_step"] > 0).all() and (table["seconds_per_step"] >= 0).all()
    # the rehearsal's projection of the same step stands beside each measurement the model has a per-step term for
    projected = table.set_index("stage")["projected_s_per_step"]
    modelled = {"dilm stage 1 LM step (packed)", "dilm stage 1 LM step (padded)", "dilm stage 2 learner step",
                "dilm stage 2 pool [CLS] states", "candidate decoding (per decode step)"}
    assert (projected[sorted(modelled)] > 0).all() and projected.drop(sorted(modelled)).isna().all()
    packed, padded = projected["dilm stage 1 LM step (packed)"], projected["dilm stage 1 LM step (padded)"]
    assert packed <= padded  # packing's fewer tokens are what the projection counts (equal at the launch floor)
    markdown = (out / "gpu-check.md").read_text()
    assert markdown.startswith("# GPU check: cpu") and "| dilm stage 2 generator step |" in markdown


def test_the_gpu_check_without_a_gpu_says_so_and_exits_2(tmp_path):
    result = _run("--device", "cuda", "--out", str(tmp_path / "none"))
    assert result.returncode == 2 and "no CUDA device" in result.stderr
    assert not (tmp_path / "none").exists()
