"""The Slurm executor against a REAL one-node Slurm cluster (slurm/start-local.sh; .ci/run starts it):
same records as the local executor, failures recorded, cancelled jobs re-run, arrays split."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.study.store import Store

from conftest import IN_CI

pytestmark = pytest.mark.xdist_group("slurm")  # one worker sends the Slurm tests, one after another
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def slurm():
    ready = shutil.which("sbatch") and subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                                       text=True, timeout=30).stdout.strip() in ("idle", "mixed", "allocated")
    if not ready:
        message = "no local Slurm cluster is running (start one with `bash slurm/start-local.sh`, as root)"
        pytest.fail(message) if IN_CI else pytest.skip(message)


def cli(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "benchmark", *args, "--no-progress"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)


GRID = ("name: sl\ntasks: [rt-polarity]\ndpcs: [5, 10]\nmethods: [full, random]\n"
        "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")


def arrays_of(folder: Path, stage: str, state: str) -> list[str]:
    """The ids of the stage's job arrays sent from ``folder`` (their working directory), not those of an earlier
    test that squeue may still list."""
    lines = subprocess.run(["squeue", "-h", "-n", f"dilm-bench-{stage}", "-t", state, "-o", "%F %Z"],
                           capture_output=True, text=True).stdout.splitlines()
    return sorted({line.split()[0] for line in lines if line.split()[1:] == [str(folder)]})


def scores(runs: Path) -> dict:
    return {r["cell_id"]: r["metrics"]["accuracy"] for r in Store(runs).done_records("evaluate")}


@pytest.mark.real
def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path, slurm, rt_assets):
    (tmp_path / "g.yaml").write_text(GRID.replace("learners: [tfidf-logreg]",
                                                  "learners: [tfidf-logreg, {name: hf-classifier, params: "
                                                  "{model: /nonexistent-model}}]"))  # fails when it trains
    result = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm")
    assert result.returncode == 1
    assert result.stderr.count("FAILED evaluate") == 5 and "MissingAssetError" in result.stderr
    assert len(scores(tmp_path / "runs")) == 5
    failed = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "evaluate").glob("*/error.json")]
    assert len(failed) == 5 and all("Traceback" in f["traceback"] for f in failed)


@pytest.mark.real
def test_a_cancelled_job_is_run_again_by_the_next_run(tmp_path, slurm, rt_assets):
    import submitit

    from benchmark.study.cells import expand
    from benchmark.study.executors.slurm import UnitsJob
    from benchmark.study.stacks import Unit
    from benchmark.study.grid import parse_grid
    import yaml

    (tmp_path / "g.yaml").write_text(GRID)
    cells = expand(parse_grid(yaml.safe_load(GRID), "g.yaml"))
    fit = cells["fit"][0]
    executor = submitit.SlurmExecutor(folder=tmp_path / "manual")
    executor.update_parameters(time=5, partition="debug", cpus_per_task=1, mem="1G",
                               setup=["sleep 20"])  # the job is still starting when it is cancelled
    job = executor.submit(UnitsJob(), [Unit([fit], False)], str(tmp_path / "runs"))
    job._results_timeout_s = 0
    job.cancel()
    while not job.done(force_check=True):
        time.sleep(0.2)
    assert not Store(tmp_path / "runs").is_done("fit", fit.id)
    result = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm")
    assert result.returncode == 0, result.stderr[-2000:]
    assert Store(tmp_path / "runs").is_done("fit", fit.id)


@pytest.mark.real
def test_a_job_cancelled_during_a_run_is_reported_with_its_state_and_log_and_sends_no_children(tmp_path, slurm,
                                                                                                 rt_assets):
    """scancel of the fit array while `run` waits on it: its cells are recorded as failed with the job's state and
    log (exit 1), no job is sent for their sets and runs, and the next run finishes the grid."""
    (tmp_path / "g.yaml").write_text(GRID)
    (tmp_path / "p.yaml").write_text("min_task_s: 0\narray_parallelism: 1\n"  # one task at a time: the 2nd waits
                                     "defaults: {partition: debug, time: 10, cpus_per_task: 1, mem: 1G}\n"
                                     "stages:\n  fit: {setup: ['sleep 60']}\n")  # long enough to be cancelled
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, "-m", "benchmark", "run", "--grid", "g.yaml", "--executor", "slurm",
                            "--slurm-profile", "p.yaml", "--no-progress"], cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    fit_logs = tmp_path / "runs" / "_submitit" / "fit"
    while not (started := list(fit_logs.glob("*_log.err"))) and time.time() < deadline:
        time.sleep(0.5)  # the first task has started once Slurm opened its log
    jobs = arrays_of(tmp_path, "fit", "PENDING,RUNNING")
    assert started and jobs, "the fit array never started"
    subprocess.run(["scancel", *jobs], check=True)  # the whole array, started or not
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, err[-2000:]
    assert err.count("FAILED fit") == 2 and err.count("ended CANCELLED before the cell finished") == 2
    # the started task's cell names its log; the pending one's says it never started (Slurm wrote no log)
    logs = [line.split("(job log: ")[1].split(")")[0] for line in err.splitlines() if "(job log: " in line]
    never = [line for line in err.splitlines() if "(no job log: the job ended before it started)" in line]
    assert len(logs) == 1 and Path(logs[0]).is_file() and len(never) == 1
    assert "distill {'skipped': 0, 'parent not done': 5}" in out and "evaluate {'skipped': 0, 'parent not done': 5}" in out
    assert not (tmp_path / "runs" / "_submitit" / "distill").exists()  # no job was sent for them
    result = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(scores(tmp_path / "runs")) == 5


@pytest.mark.real
def test_a_job_out_of_time_names_the_setting_to_raise(tmp_path, slurm, rt_assets):
    """A fit array whose 1-minute limit ends it (its setup outlasts it, so no cell code runs): each cell is recorded
    as failed with the state TIMEOUT, the profile key to raise and the job's log (exit 1). (That the next run then
    finishes is the cancellation tests' part.)"""
    (tmp_path / "g.yaml").write_text(GRID)
    (tmp_path / "p.yaml").write_text("min_task_s: 0\ndefaults: {partition: debug, time: 10, cpus_per_task: 1, mem: 1G}\n"
                                     "stages:\n  fit: {time: 1, setup: ['sleep 600']}\n")
    result = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm", "--slurm-profile", "p.yaml")
    assert result.returncode == 1, result.stderr[-2000:]
    ended = [line for line in result.stderr.splitlines() if "ended TIMEOUT before the cell finished" in line]
    assert len(ended) == 2 and all("raise `time` under stages.fit in p.yaml" in line for line in ended)
    assert all(Path(line.split("(job log: ")[1].split(")")[0]).is_file() for line in ended)
    failed = [json.loads(path.read_text()) for path in (tmp_path / "runs" / "fit").glob("*/error.json")]
    assert len(failed) == 2 and all(f["error"].startswith("SlurmJobEnded") and "TIMEOUT" in f["error"] for f in failed)


@pytest.mark.real
def test_arrays_larger_than_the_maximum_are_split(tmp_path, slurm, rt_assets):
    (tmp_path / "g.yaml").write_text(GRID)
    (tmp_path / "small.yaml").write_text("max_array_size: 2\narray_parallelism: 2\nmin_task_s: 0\n"
                                         "defaults: {partition: debug, time: 10, cpus_per_task: 1, mem: 1G}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "benchmark", "run", "--grid", "g.yaml", "--executor", "slurm",
                             "--slurm-profile", "small.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    arrays = [line for line in result.stdout.splitlines() if line.startswith("evaluate: submitted array")]
    assert [line.split("(")[1] for line in arrays] == ["2 cells in 2 tasks)", "2 cells in 2 tasks)", "1 cells in 1 tasks)"]
    assert len({line.split()[3] for line in arrays}) == 3  # three separate array jobs


def test_bundles_fill_tasks_up_to_the_target_and_keep_heavy_units_alone():
    from benchmark.study.executors.slurm import bundles

    cost = {"a": 20, "b": 30, "c": 15, "H": 500, "d": 10, "e": 5}
    tasks = bundles(list(cost), cost.get, target_s=60)
    assert tasks == [["a", "b", "c"], ["H"], ["d", "e"]]
    assert bundles(list(cost), cost.get, target_s=0) == [[u] for u in cost]


@pytest.mark.real
def test_slurm_runs_cheap_cells_in_shared_array_tasks_with_the_local_executors_records(tmp_path, slurm, rt_assets):
    """42 TF-IDF and n-gram cells (about a second each) go out as a few bundled array tasks, not 42, with the
    records the local executor makes; a second run submits nothing."""
    grid = GRID.replace("learners: [tfidf-logreg]", "learners: [tfidf-logreg, {name: bow-ngrams, params: {steps: 20}}]")
    (tmp_path / "g.yaml").write_text(grid.replace("n_sets: 2", "n_sets: 10"))
    on_slurm = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm", "--runs-dir", "slurm-runs")
    assert on_slurm.returncode == 0, on_slurm.stderr[-2000:]
    local = cli(tmp_path, "run", "--grid", "g.yaml", "--runs-dir", "local-runs")
    assert local.returncode == 0, local.stderr[-2000:]
    assert len(scores(tmp_path / "slurm-runs")) == 2 * (1 + 2 * 10) == 42
    assert scores(tmp_path / "slurm-runs") == scores(tmp_path / "local-runs")
    tasks = list((tmp_path / "slurm-runs" / "_submitit" / "evaluate").glob("*_result.pkl"))
    assert 1 <= len(tasks) <= 3  # 42 cells at ~2-5 s of estimated work each, bundled into tasks of >= 60 s
    hosts = {r["host"]["executable"] for r in Store(tmp_path / "slurm-runs").done_records("evaluate")}
    assert hosts == {sys.executable}
    again = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm", "--runs-dir", "slurm-runs")
    assert "evaluate 42 cells (0 to run)" in again.stdout  # resumes: nothing submitted


@pytest.mark.real
def test_minilm_runs_go_to_slurm_as_stacks_and_match_the_same_stacks_run_locally(tmp_path, slurm, rt_assets):
    """4 MiniLM cells in stacks of 2: two array tasks, each training its stack; the records equal those of
    the same stacks run by the local executor (same seeds, same dropout draws)."""
    (tmp_path / "g.yaml").write_text("name: st\ntasks: [rt-polarity]\ndpcs: [2]\nmethods: [random]\n"
                                     "learners: [{name: minilm, params: {steps: 2}}]\nn_sets: 2\nn_evals: 2\n")
    on_slurm = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm", "--runs-dir", "slurm-runs",
                   "--stack-runs", "2")
    assert on_slurm.returncode == 0, on_slurm.stderr[-2000:]
    local = cli(tmp_path, "run", "--grid", "g.yaml", "--runs-dir", "local-runs", "--stack-runs", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    records = list(Store(tmp_path / "slurm-runs").done_records("evaluate"))
    assert len(records) == 4 and all(r["stack"]["cells"] == 2 for r in records)
    assert scores(tmp_path / "slurm-runs") == scores(tmp_path / "local-runs")
    results = list((tmp_path / "slurm-runs" / "_submitit" / "evaluate").glob("*_result.pkl"))
    assert len(results) == 2  # one array task per stack


def test_bad_profiles_fail_clearly(tmp_path):
    from benchmark.core.errors import UsageError
    from benchmark.study.executors.slurm import load_profile

    (tmp_path / "p.yaml").write_text("defaults: {partitoin: debug}\n")
    with pytest.raises(UsageError, match="unknown setting.*partitoin"):
        load_profile(str(tmp_path / "p.yaml"))
    with pytest.raises(UsageError, match="not found"):
        load_profile("no-such-profile")
    assert load_profile("local").for_stage("fit")["time"] == 120


def test_a_job_computes_with_the_cpus_slurm_allocated_it(monkeypatch):
    """PyTorch starts one thread per core of the node; a task that asked for cpus_per_task uses that many."""
    import torch

    from benchmark.study.executors.slurm import use_allocated_cpus

    before = torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert use_allocated_cpus() is None and torch.get_num_threads() == before
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    try:
        assert use_allocated_cpus() == 1 and torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(__file__).parent.parent / "slurm" / "profiles").glob("*.yaml")))
def test_every_shipped_profile_loads_with_a_partition_and_memory_per_stage(name):
    from benchmark.study.cells import STAGES
    from benchmark.study.executors.slurm import load_profile

    profile = load_profile(name)
    for stage in STAGES:
        settings = profile.for_stage(stage)
        assert settings["partition"] and settings["mem"] and int(settings["time"]) > 0


@pytest.mark.real
def test_a_stack_cancelled_on_slurm_resumes_from_its_checkpoint(tmp_path, slurm, rt_assets):
    """A MiniLM stack saving after every step ($DILM_BENCH_CHECKPOINT_MINUTES=0, passed to the jobs) is cancelled
    once its first checkpoint is on disk: its cells fail (the runner waits for the job's process to let them go),
    the checkpoint stays, and the next run resumes from it and ends with the scores of an uninterrupted local run."""
    (tmp_path / "g.yaml").write_text("name: ck\ntasks: [rt-polarity]\ndpcs: [2]\nmethods: [random]\n"
                                     "learners: [{name: minilm, params: {steps: 24}}]\nn_sets: 2\nn_evals: 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DILM_BENCH_CHECKPOINT_MINUTES": "0"}
    run = subprocess.Popen([sys.executable, "-m", "benchmark", "run", "--grid", "g.yaml", "--executor", "slurm",
                            "--stack-runs", "2", "--no-progress"], cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while not (saved := list((tmp_path / "runs" / "evaluate").glob("*/work/training/*/checkpoint.safetensors"))):
        assert time.time() < deadline and run.poll() is None, "the stack never saved a checkpoint"
        time.sleep(0.2)
    subprocess.run(["scancel", *arrays_of(tmp_path, "evaluate", "RUNNING")], check=True)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1 and err.count("ended CANCELLED before the cell finished") == 2, err[-2000:]
    assert all(path.is_file() for path in saved)
    again = cli(tmp_path, "run", "--grid", "g.yaml", "--executor", "slurm", "--stack-runs", "2")  # 10-min saves
    assert again.returncode == 0, again.stderr[-2000:]
    records = list(Store(tmp_path / "runs").done_records("evaluate"))
    assert len(records) == 2 and all(1 <= r["training_resumed_after_step"] <= 24 for r in records)
    assert not list((tmp_path / "runs" / "evaluate").glob("*/work/training"))
    local = cli(tmp_path, "run", "--grid", "g.yaml", "--runs-dir", "local-runs", "--stack-runs", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    assert scores(tmp_path / "runs") == scores(tmp_path / "local-runs")


@pytest.mark.real
def test_a_signalled_stack_is_requeued_by_slurm_and_resumes_from_its_checkpoint(tmp_path, slurm, rt_assets):
    """The signal Slurm sends before a job's time limit (or on preemption), USR2, here sent by hand once a MiniLM
    stack has saved a checkpoint: the task is requeued in the same job, resumes from the checkpoint, and the run
    ends (exit 0) with the scores of an uninterrupted local run."""
    (tmp_path / "g.yaml").write_text("name: rq\ntasks: [rt-polarity]\ndpcs: [2]\nmethods: [random]\n"
                                     "learners: [{name: minilm, params: {steps: 24}}]\nn_sets: 2\nn_evals: 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DILM_BENCH_CHECKPOINT_MINUTES": "0"}
    run = subprocess.Popen([sys.executable, "-m", "benchmark", "run", "--grid", "g.yaml", "--executor", "slurm",
                            "--stack-runs", "2", "--no-progress"], cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while not list((tmp_path / "runs" / "evaluate").glob("*/work/training/*/checkpoint.safetensors")):
        assert time.time() < deadline and run.poll() is None, "the stack never saved a checkpoint"
        time.sleep(0.2)
    jobs = arrays_of(tmp_path, "evaluate", "RUNNING")
    subprocess.run(["scancel", "--signal=USR2", *jobs], check=True)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-2000:]
    attempts = subprocess.run(["sacct", "-D", "-X", "-n", "-o", "State", "-j", ",".join(jobs)], capture_output=True,
                              text=True).stdout.split()
    assert attempts == ["REQUEUED", "COMPLETED"], attempts
    records = list(Store(tmp_path / "runs").done_records("evaluate"))
    assert len(records) == 2 and all(1 <= r["training_resumed_after_step"] <= 24 for r in records)
    local = cli(tmp_path, "run", "--grid", "g.yaml", "--runs-dir", "local-runs", "--stack-runs", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    assert scores(tmp_path / "runs") == scores(tmp_path / "local-runs")
