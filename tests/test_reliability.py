"""Reliability of the store: two runners on one runs folder, and a runner killed with SIGKILL mid-grid
then re-run; every cell must end done exactly once, with whole records (real data, TF-IDF learner)."""
import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.study.store import Store

ROOT = Path(__file__).resolve().parent.parent
GRID = ("name: rel\ntasks: [rt-polarity]\ndpcs: [5, 10, 20]\nmethods: [full, random]\nlearners: [tfidf-logreg]\n"
        "n_sets: 4\nn_evals: 2\n")


def start_runner(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "benchmark", "run", "--grid", "rel.yaml", "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def journal(tmp_path):
    path = tmp_path / "runs" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_every_cell_done_once(tmp_path, expected_cells):
    events = journal(tmp_path)
    done = collections.Counter(e["cell_id"] for e in events if e["event"] == "done")
    assert len(done) == expected_cells and set(done.values()) == {1}, done
    store = Store(tmp_path / "runs")
    for stage in ("fit", "distill", "evaluate"):
        for record in store.done_records(stage):  # every record parses whole
            assert record["cell_id"] in done
    return events


@pytest.mark.real
def test_two_runners_on_one_folder_run_each_cell_once(tmp_path, rt_assets):
    (tmp_path / "rel.yaml").write_text(GRID)
    first, second = start_runner(tmp_path), start_runner(tmp_path)
    for runner in (first, second):
        out, err = runner.communicate(timeout=600)
        assert runner.returncode == 0, err[-2000:]
    events = check_every_cell_done_once(tmp_path, 2 + 13 + 26)
    starts = collections.Counter(e["cell_id"] for e in events if e["event"] == "start")
    assert set(starts.values()) == {1}  # nobody started a cell the other one had
    assert len({e["pid"] for e in events}) == 2  # both runners did part of the work


@pytest.mark.real
def test_a_runner_killed_mid_grid_resumes_without_redoing_finished_cells(tmp_path, rt_assets):
    (tmp_path / "rel.yaml").write_text(GRID)
    runner = start_runner(tmp_path)
    deadline = time.time() + 300
    while sum(e["event"] == "done" and e["stage"] == "evaluate" for e in journal(tmp_path)) < 5:
        assert time.time() < deadline and runner.poll() is None, "the runner ended before it could be killed"
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    finished_before = {e["cell_id"] for e in journal(tmp_path) if e["event"] == "done"}
    again = start_runner(tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    events = check_every_cell_done_once(tmp_path, 2 + 13 + 26)
    rerun = {e["cell_id"] for e in events if e["event"] == "start" and e["pid"] == again.pid}
    assert not rerun & finished_before  # nothing that had finished ran again


def test_a_cached_build_killed_midway_leaves_no_target_and_its_staging_is_swept(tmp_path):
    """A SIGKILL inside build_once's build leaves a staging folder beside the target (nothing can remove it then);
    the next build of that target, under the same lock, removes it and lands a whole target."""
    target = tmp_path / "kind" / "artifact.a1"
    code = ("import sys, time\nfrom pathlib import Path\nfrom benchmark.core.cache import build_once\n"
            "def build(staging):\n    (staging / 'half').write_text('x')\n    print('building', flush=True)\n"
            "    time.sleep(60)\n"
            f"build_once(Path({str(target)!r}), 'done', build)\n")
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "building"
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = list(target.parent.glob(".artifact.a1.staging.*"))
    assert len(left) == 1 and (left[0] / "half").exists() and not target.exists()

    from benchmark.core.cache import build_once

    build_once(target, "done", lambda staging: (staging / "done").write_text("ok"))
    assert (target / "done").read_text() == "ok" and not (target / "half").exists()
    assert not list(target.parent.glob(".artifact.a1.staging.*"))
