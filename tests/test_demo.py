"""The default grid: the field's comparison (Full, Random, Herding, K-centers) with MiniLM on the DPC-5 sets only
(a learner's own `dpcs`), and a demo run that changes no tracked file, so its records are not `-dirty`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.study.cells import expand
from benchmark.core.errors import UsageError
from benchmark.study.grid import load_grid

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_grid_shows_coresets_beside_the_references_and_minilm_sees_dpc_5_only():
    grid = load_grid("demo")
    assert [m.name for m in grid.methods] == ["full", "random", "herding", "kmeans-centers"]
    cells = expand(grid)
    minilm = [c for c in cells["evaluate"] if c.learner.name == "minilm"]
    tfidf = [c for c in cells["evaluate"] if c.learner.name == "tfidf-logreg"]
    assert sorted({c.distill.dpc for c in minilm}, key=str) == [5, None]  # DPC 5 sets and the Full set
    assert len(minilm) == 1 + 2 + 1 + 2  # full, random x2, herding (deterministic), K-centers x2
    assert len(tfidf) == 1 + 3 * (2 + 1 + 2)


def test_a_learners_dpcs_must_be_the_grids(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("name: g\ntasks: [rt-polarity]\ndpcs: [5, 10]\nmethods: [random]\n"
                    "learners: [{name: minilm, dpcs: [5, 20]}]\n")
    with pytest.raises(UsageError, match=r"learners\[0\].dpcs \[5, 20\] must be a subset of the grid's dpcs \[5, 10\]"):
        load_grid(str(path))


@pytest.mark.real
def test_a_demo_run_leaves_a_clean_checkout_clean(tmp_path, rt_assets):
    """In a copy of the repository at a commit: the default grid (TF-IDF only, for speed) writes its records and
    leaderboard under runs/, `git status` stays empty and every record names a clean commit."""
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "copy"], check=True)
    env = {**os.environ, "PYTHONPATH": str(repo)}
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--learners", "tfidf-logreg", "--no-progress"],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True).stdout == ""
    records = [json.loads(p.read_text()) for p in (repo / "runs" / "evaluate").glob("*/record.json")]
    assert records and all(r["git"]["dirty"] is False for r in records)
    assert list((repo / "runs" / "leaderboards").glob("demo-*/leaderboard.md"))
