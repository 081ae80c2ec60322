"""The command line: list, bad input (exit 2, did-you-mean, nothing written), and the real end to end run."""
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.authoring.testing import TinySentiment

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=900)


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("rt-polarity", "full", "random", "minilm", "tfidf-logreg", "demo"):
        assert name in out


def test_list_details_shows_every_default_and_preset(capsys):
    """One hyper-parameter story: every method's and learner's defaults, and each preset's values, from `list --details`."""
    from dataclasses import asdict

    from dilm.config import PRESETS as DILM_PRESETS
    from methods.tdd import PRESETS as TDD_PRESETS

    assert main(["list", "methods", "--details"]) == 0
    methods = capsys.readouterr().out
    cards = {block.split(":")[0]: block for block in re.split(r"\n  (?=\S)", methods)}
    assert f"preset 'cpu': model='minilm', seq_length={TDD_PRESETS['cpu'].seq_length}" in cards["tdd"]
    assert "preset 'paper': as 'cpu' but model='bert-base-uncased', seq_length=64, outer_steps=5000" in cards["tdd"]
    assert f"lm_steps={DILM_PRESETS['paper'].lm_steps}" in cards["dilm"]
    assert f"outer_loops={asdict(DILM_PRESETS['cpu'])['outer_loops']}" in cards["dilm"]
    assert "lm_steps=" in cards["vanilla-lm"] and "outer_loops" not in cards["vanilla-lm"], "stage 2 is not vanilla-lm's"
    assert main(["list", "learners", "--details"]) == 0
    learners = capsys.readouterr().out
    assert "minilm: " in learners and "family: fine-tuned; trains on: text, embedding sets" in learners
    assert "recipe: model='minilm', steps=200, batch_size=64, lr=0.0001" in learners and "contract tests use: {'steps': 3}" in learners


def test_command_line_flags_are_checked_as_the_grid_keys_they_override(tmp_path, capsys):
    """--n-sets / --dpcs meet the grid's own checks (one place), naming the flag; --dpcs narrows a learner's own
    DPCs and leaves out a learner left with none."""
    from benchmark.api import open_grid

    assert main(["run", "--n-sets", "0", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "with --n-sets 0: key 'n_sets' must be a positive integer, got 0" in err
    assert main(["run", "--n-fits", "-1", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "with --n-fits -1: key 'n_fits' must be a positive integer, got -1" in capsys.readouterr().err
    assert main(["run", "--dpcs", "5", "0", "--dry-run", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "key 'dpcs[1]' must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    demo = open_grid("demo", overrides={"dpcs": [5, 10]}, load_data=False)  # minilm trains at DPC 5 only
    assert {learner.name: demo.dpcs_of(learner) for learner in demo.learners} == {"minilm": [5], "tfidf-logreg": [5, 10]}
    assert demo.name.startswith("demo-") and demo.source == "preset 'demo' with --dpcs 5 10"
    wider = open_grid("demo", overrides={"dpcs": [10]}, load_data=False)
    assert [learner.name for learner in wider.learners] == ["tfidf-logreg"]


@pytest.mark.parametrize("flag, wrong, kind, right", [
    ("--tasks", "rt-polarty", "task", "rt-polarity"),
    ("--methods", "randm", "method", "random"),
    ("--learners", "minilmm", "learner", "minilm"),
    ("--grid", "dmo", "grid", "demo"),
])
def test_unknown_names_fail_fast_with_did_you_mean_and_write_nothing(tmp_path, flag, wrong, kind, right):
    result = cli("run", flag, wrong, "--runs-dir", "runs", "--out", "results", cwd=tmp_path)
    assert result.returncode == 2
    assert f"unknown {kind} '{wrong}'" in result.stderr and f"Did you mean '{right}'" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dpc_larger_than_a_class_fails_naming_the_class(tmp_path, capsys):
    code = main(["run", "--tasks", "tiny-sentiment", "--methods", "random", "--learners", "tfidf-logreg",
                 "--dpcs", "5", "500", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "DPC 500 is larger than class 'negative' of task 'tiny-sentiment'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.real
def test_real_end_to_end_run_through_the_cli(tmp_path, rt_assets, minilm_assets):
    """Real rt-polarity, real MiniLM (a few steps), full and random, both learners, through the CLI."""
    (tmp_path / "e2e.yaml").write_text(
        "name: e2e\ntasks: [rt-polarity]\ndpcs: [5, 10]\nmethods: [full, random]\n"
        "learners:\n  - name: minilm\n    params: {steps: 4, batch_size: 16}\n  - tfidf-logreg\n"
        "n_sets: 1\nn_evals: 1\n")
    result = cli("run", "--grid", "e2e.yaml", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "### Learner: minilm" in out and "### Learner: tfidf-logreg" in out
    assert "| Full dataset |" in out and "| Random |" in out and "*reference rows*" in out
    assert "rt-polarity DPC 5" in out and "rt-polarity DPC 10" in out
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "evaluate").glob("*/record.json")]
    assert len(records) == 2 * 3  # (full + random at 2 DPCs) x 2 learners
    sizes = {(r["config"]["method"]["name"], r["config"]["dpc"]): r["distilled"]["n_examples"] for r in records}
    assert sizes[("random", 5)] == 10 and sizes[("random", 10)] == 20 and sizes[("full", None)] > 8000
    for r in records:
        assert r["metrics"]["n_test"] == r["task"]["split_sizes"]["test"] > 1000
        assert len(r["task"]["split_checksums"]["test"]) == 16
    tfidf_full = [r for r in records if r["config"]["learner"]["name"] == "tfidf-logreg"
                  and r["config"]["method"]["name"] == "full"][0]
    assert tfidf_full["metrics"]["accuracy"] > 0.7  # the whole train split: a real, working classifier
    assert (tmp_path / "runs" / "leaderboards" / "e2e" / "leaderboard.md").exists()  # beside the records
    # running again resumes: nothing left to do
    again = cli("run", "--grid", "e2e.yaml", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and "evaluate 6 cells (0 to run)" in again.stdout


def test_the_paper_grid_dry_run_counts_cells_without_the_hub(tmp_path):
    """`run --grid full --dry-run`: the paper's grid per stage with a GPU-hour estimate, offline (hub disabled)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf")}
    out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--grid", "full", "--dry-run",
                          "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    # 3 tasks x 6 methods; sets: 3 tasks x 3 DPCs x (4 methods x 20 seeds + deterministic herding x 1 + tdd x 20);
    # runs: x 5 evals on 4 learners, except tdd (embedding-level) on bert-base-uncased only
    assert "fit          18 cells" in out.stdout
    assert f"distill     {3 * 3 * (4 * 20 + 1 + 20)} cells" in out.stdout
    assert f"evaluate  {3 * 3 * ((4 * 20 + 1) * 4 + 20) * 5} cells" in out.stdout
    assert re.search(r"estimated total: .* ~[0-9.]+ GPU h .*projected by the grid's committed rehearsal "
                     r"results/full-rehearsal/", out.stdout)
    assert "(NVIDIA H200 SXM)" in out.stdout and "budget on: the rehearsal's figure" in out.stdout
    assert not (tmp_path / "runs").exists() and not (tmp_path / "empty-hf").exists()


@pytest.mark.parametrize("param, message", [
    ("{lr: abc}", "learner 'minilm': parameter 'lr' must be a number, got 'abc'"),
    ("{stepz: 10}", "learner 'minilm': unknown parameter 'stepz'. Did you mean 'steps'?"),
    ("{steps: 2.5}", "learner 'minilm': parameter 'steps' must be a whole number, got 2.5"),
    ("{device: 3}", "learner 'minilm': parameter 'device' must be text, got 3; quote it in YAML"),
])
def test_learner_parameters_are_checked_against_the_constructor(tmp_path, param, message, capsys):
    path = tmp_path / "g.yaml"
    path.write_text(f"name: g\ntasks: [rt-polarity]\ndpcs: [5]\nmethods: [random]\n"
                    f"learners: [{{name: minilm, params: {param}}}]\n")
    assert main(["run", "--grid", str(path), "--dry-run", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "runs").exists()


def test_an_unknown_preset_is_a_grid_error_with_did_you_mean(tmp_path, capsys):
    """A method preset resolves per task when cell ids are made: a misspelt one is caught at validation, exit 2."""
    path = tmp_path / "g.yaml"
    path.write_text("name: g\ntasks: [rt-polarity]\ndpcs: [5]\nmethods: [{name: dilm, params: {preset: papr}}]\n"
                    "learners: [tfidf-logreg]\n")
    assert main(["run", "--grid", str(path), "--dry-run", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "method 'dilm'" in (err := capsys.readouterr().err) and "Did you mean 'paper'?" in err


def test_numbers_written_as_text_become_numbers(tmp_path):
    """`lr: 1e-4` is a string to PyYAML; the grid checks it against the constructor (a float) and makes it one."""
    from benchmark.study.checks import check_grid
    from benchmark.study.grid import load_grid

    path = tmp_path / "g.yaml"
    path.write_text("name: g\ntasks: [rt-polarity]\ndpcs: [5]\nmethods: [{name: dilm, params: {generator_lr: 3e-7}}]\n"
                    "learners: [{name: minilm, params: {lr: 2e-4, steps: '50'}}]\n")
    grid = check_grid(load_grid(str(path)), load_data=False)
    assert grid.learners[0].kwargs == {"lr": 2e-4, "steps": 50}
    assert grid.methods[0].kwargs == {"generator_lr": 3e-7}


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "grids").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_grid_passes_the_checks_a_run_makes(path):
    """The grids the README and the results name are checked as `run` checks them (names, hyper-parameters,
    presets per task), so a renamed parameter or learner breaks a test, not a researcher's week-long run."""
    from benchmark.study.checks import check_grid
    from benchmark.study.grid import load_grid

    grid = check_grid(load_grid(str(path)), load_data=False)
    assert grid.tasks and grid.methods and grid.learners and grid.dpcs


def test_the_example_grids_are_found():
    """The parametrised check above is not vacuous: the shipped grids are where it looks."""
    names = {p.stem for p in (ROOT / "examples" / "grids").glob("*.yaml")}
    assert {"dilm-rt-polarity", "dilm-release-sst2", "imbalanced-full-vs-random"} <= names


def test_cache_list_and_clear_name_what_they_touch(tmp_path, monkeypatch, capsys):
    """`run --force` keeps user-cache artifacts; `cache clear KIND` removes exactly those folders, and cache keys
    carry a format version (an artifact of an older format is never reused)."""
    from methods import embeddings, generative, tdd

    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path))
    for kind in ("dilm", "tdd", "embeddings"):
        (tmp_path / kind / "entry").mkdir(parents=True)
        (tmp_path / kind / "entry" / "f.bin").write_bytes(b"x" * 2048)
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"dilm +0\.0 MiB +1 entries", out) and re.search(r"models +0\.0 MiB +0 entries", out)
    assert main(["cache", "clear", "tdd", "embeddings"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dilm"]
    assert main(["cache", "clear", "dlim"]) == 2
    assert "unknown cache kind(s) dlim. Did you mean 'dilm'?" in capsys.readouterr().err
    assert main(["cache", "clear"]) == 2 and (tmp_path / "dilm").is_dir()
    assert all(isinstance(m.CACHE_FORMAT, int) for m in (generative, tdd, embeddings))
    assert f".v{embeddings.CACHE_FORMAT}.npy" in str(embeddings.cache_path(
        TinySentiment(), TinySentiment().splits.train, embeddings.EmbeddingSpace("minilm")))
