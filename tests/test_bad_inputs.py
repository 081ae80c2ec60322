"""Bad input a new user gives (issue 51: the judge, ambiguous input, `--force`, tracebacks, misleading defaults):
each exits with its code and a message naming the file, line or key and the fix, writes nothing partial and loses
no finished record."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.authoring.testing import NEGATIVE, POSITIVE
from benchmark.cli import main
from benchmark.study.store import Store

ROOT = Path(__file__).resolve().parents[1]


def reviews(n=30, labels=("bad", "good")):
    """(text, label) rows: n of each label."""
    words = {labels[0]: NEGATIVE, labels[-1]: POSITIVE}
    return [(f"{words[label][i % 6]} {i}", label) for label in labels for i in range(n)]


def write_task(folder: Path, rows=None, header="review,stars", name="my-reviews", data="reviews.csv", **extra) -> str:
    """A task spec and its CSV (rows of (text, label)) in ``folder``; the spec's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = reviews() if rows is None else rows
    (folder / data).write_text(header + "\n" + "".join(f'"{t}",{label}\n' for t, label in rows), encoding="utf-8")
    spec = {"name": name, "path": data, "text_fields": ["review"], "label_field": "stars", **extra}
    (folder / "task.yaml").write_text(json.dumps(spec), encoding="utf-8")
    return str(folder / "task.yaml")


def files(runs: Path) -> dict:
    """Every file under a runs folder with its bytes: what a bad command must leave as it was."""
    return {p: p.read_bytes() for p in sorted(runs.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A runs folder holding a finished study (its records must survive every bad command below) and its task."""
    folder = tmp_path_factory.mktemp("finished")
    spec = write_task(folder / "task")
    argv = ["-q", "run", "--tasks", spec, "--methods", "random", "--learners", "tfidf-logreg", "--dpcs", "2",
            "--runs-dir", str(folder / "runs"), "--out", str(folder / "out"), "--no-progress", "--no-html"]
    assert main(argv) == 0
    return folder / "runs", spec


def refused(argv, capsys, finished, *words, code=2):
    """Run ``argv`` against the finished runs folder: the exit code, the message's key words, no traceback, and the
    finished records as they were (nothing lost, nothing partial added)."""
    runs, _ = finished
    before = files(runs)
    capsys.readouterr()
    assert main([*argv[:1], *argv[1:], "--runs-dir", str(runs), "--no-progress"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert files(runs) == before
    return err


def grid_file(folder: Path, text: str, name="grid.yaml") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


GRID = "tasks: [{task}]\ndpcs: [2]\nmethods: [random]\nlearners: [{learner}]\n"


# --- item 4: the judge never takes down a run ---------------------------------------------------------------------

def test_a_task_of_one_class_is_refused_at_grid_time(tmp_path, capsys, finished):
    spec = write_task(tmp_path, reviews(labels=("bad",)))
    refused(["run", "--tasks", spec, "--methods", "random", "--learners", "tfidf-logreg", "--dpcs", "2"], capsys,
            finished, "task 'my-reviews'", "train split holds 1 class(es) {'bad':", "at least two", "label_field")


def test_a_judge_error_on_one_set_leaves_its_fidelity_unavailable_and_the_leaderboard_written(tmp_path):
    """A grid run through the API without its check (a one-class task slips through): that task's cells and judge
    fail, its sets' fidelity is recorded unavailable with the reason, the other task is judged and the leaderboard
    is written."""
    from benchmark.api import run_grid
    from benchmark.study.grid import load_grid

    good, one = write_task(tmp_path / "good"), write_task(tmp_path / "one", reviews(labels=("bad",)), name="one")
    grid = load_grid(grid_file(tmp_path, f"tasks: [{good}, {one}]\ndpcs: [2]\nmethods: [random]\n"
                                         f"learners: [tfidf-logreg]\n"))
    warnings = []
    done = run_grid(grid, tmp_path / "runs", tmp_path / "out", progress=False, html=False, echo=lambda _: None,
                    warn=warnings.append)
    store = Store(tmp_path / "runs")
    judged = {r["task"]["name"] for r in store.done_records("fidelity")}
    assert judged == {"my-reviews"}
    unavailable = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "fidelity").glob("*/error.json")]
    assert len(unavailable) == 1 and unavailable[0]["unavailable"] is True
    assert unavailable[0]["error"].startswith("ValueError") and "class" in unavailable[0]["error"]
    assert any("fidelity of set one.random" in w and "unavailable" in w for w in warnings)
    assert (done.out_dir / "leaderboard.md").is_file() and "my-reviews" in done.markdown
    assert {f.stage for f in done.failures} == {"evaluate"}  # the one-class task's learner runs failed, recorded


# --- item 6: ambiguous input is refused -----------------------------------------------------------------------------

def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path, capsys, finished):
    spec = write_task(tmp_path, header="review,stars,review")
    refused(["run", "--tasks", spec], capsys, finished, "reviews.csv:1:", "'review' named twice", "rename")


def test_a_tsv_header_naming_a_column_twice_is_refused(tmp_path, capsys, finished):
    (tmp_path / "reviews.tsv").write_text("review\tstars\tstars\nfine\tgood\tbad\n", encoding="utf-8")
    spec = write_task(tmp_path, data="r.csv")
    (tmp_path / "task.yaml").write_text(Path(spec).read_text().replace("r.csv", "reviews.tsv"))
    refused(["run", "--tasks", spec], capsys, finished, "reviews.tsv:1:", "'stars' named twice")


@pytest.mark.parametrize("missing", ["nan", "NaN", "null", "None", "N/A"])
def test_a_label_that_reads_as_a_missing_value_is_refused(tmp_path, capsys, finished, missing):
    rows = reviews()
    rows[7] = (rows[7][0], missing)
    spec = write_task(tmp_path, rows)
    refused(["run", "--tasks", spec], capsys, finished, "reviews.csv:9:", f"label {missing!r}",
            "reads as a missing value", "label_names")


def test_an_empty_label_is_refused(tmp_path, capsys, finished):
    rows = reviews()
    rows[3] = (rows[3][0], "")
    refused(["run", "--tasks", write_task(tmp_path, rows)], capsys, finished, "reviews.csv:5: empty label")


def test_a_class_named_like_a_missing_value_is_read_when_label_names_declares_it(tmp_path):
    from benchmark.tasks import TASKS

    spec = write_task(tmp_path, reviews(labels=("none", "good")), label_names=["none", "good"])
    assert TASKS.create("custom", spec=spec).load_examples().class_counts(2).tolist() == [30, 30]


def test_two_task_specs_with_one_name_in_a_grid_are_refused(tmp_path, capsys, finished):
    first, second = write_task(tmp_path / "a"), write_task(tmp_path / "b", reviews(20))
    grid = grid_file(tmp_path, GRID.format(task=f"{first}, {second}", learner="tfidf-logreg"))
    refused(["run", "--grid", grid], capsys, finished, "two tasks are named 'my-reviews'", first, second,
            "own name")


def test_a_grid_key_written_twice_is_refused(tmp_path, capsys, finished):
    grid = grid_file(tmp_path, GRID.format(task=finished[1], learner="tfidf-logreg") + "learners: [bow-ngrams]\n")
    refused(["run", "--grid", grid], capsys, finished, f"grid {grid}: not valid YAML at line 5",
            "duplicate key 'learners' (first at line 4)")


def test_a_parameter_written_twice_in_a_grid_is_refused(tmp_path, capsys, finished):
    grid = grid_file(tmp_path, GRID.format(task=finished[1], learner="{name: tfidf-logreg, params: {C: 1, C: 4}}"))
    refused(["run", "--grid", grid], capsys, finished, "duplicate key 'C'", "line 4")


def test_a_task_spec_key_written_twice_is_refused(tmp_path, capsys, finished):
    spec = write_task(tmp_path)
    Path(spec).write_text("name: a\nname: b\npath: reviews.csv\ntext_fields: [review]\nlabel_field: stars\n")
    refused(["run", "--tasks", spec], capsys, finished, f"task spec {spec}", "line 2", "duplicate key 'name'")


def test_a_set_value_with_a_key_twice_is_refused(capsys, finished):
    refused(["run", "--tasks", finished[1], "--set", "recipes={non-neural: {C: 1, C: 2}}"], capsys, finished,
            "--set", "duplicate key 'C'")


def test_a_slurm_profile_with_a_key_twice_is_refused(tmp_path, capsys, finished):
    profile = grid_file(tmp_path, "defaults: {mem: 4G}\ndefaults: {mem: 8G}\n", "profile.yaml")
    refused(["run", "--tasks", finished[1], "--executor", "slurm", "--slurm-profile", profile], capsys, finished,
            f"Slurm profile {profile}", "duplicate key 'defaults'")


def test_a_csv_row_with_more_fields_than_the_header_is_refused(tmp_path, capsys, finished):
    spec = write_task(tmp_path)
    with open(tmp_path / "reviews.csv", "a", encoding="utf-8") as f:
        f.write("great, truly,good\n")
    refused(["run", "--tasks", spec], capsys, finished, "reviews.csv:62: 3 fields, but the header names 2")


def test_a_csv_quote_never_closed_is_refused_not_read_as_one_field(tmp_path, capsys, finished):
    spec = write_task(tmp_path)
    with open(tmp_path / "reviews.csv", "a", encoding="utf-8") as f:
        f.write('"a quote opened here is never closed,good\n"fine",good\nlast,bad\n')
    refused(["run", "--tasks", spec], capsys, finished, "reviews.csv:", "not a readable CSV file",
            "close every quote")


# --- item 9: tracebacks become exit 2 with the file and the fix -----------------------------------------------------

def test_invalid_yaml_in_a_task_spec_names_the_line(tmp_path, capsys, finished):
    spec = write_task(tmp_path)
    Path(spec).write_text("name: my-reviews\npath: [reviews.csv\ntext_fields: [review]\nlabel_field: stars\n")
    refused(["run", "--tasks", spec], capsys, finished, f"task spec {spec}: not valid YAML at line", "fix the file")


def test_invalid_yaml_in_a_grid_names_the_line(tmp_path, capsys, finished):
    grid = grid_file(tmp_path, "tasks: [x\ndpcs: [2]\n  methods: random\n")
    refused(["run", "--grid", grid], capsys, finished, f"grid {grid}: not valid YAML at line")


def test_a_task_spec_that_is_not_utf8_names_the_line(tmp_path, capsys, finished):
    spec = write_task(tmp_path)
    Path(spec).write_bytes(b"name: caf\xe9\npath: reviews.csv\ntext_fields: [review]\nlabel_field: stars\n")
    refused(["run", "--tasks", spec], capsys, finished, f"task spec {spec}:1: not UTF-8", "re-save the file as UTF-8")


def test_a_grid_that_is_not_utf8_names_the_line(tmp_path, capsys, finished):
    grid = grid_file(tmp_path, "")
    Path(grid).write_bytes(GRID.format(task=finished[1], learner="tfidf-logreg").encode() + b"# r\xe9sum\xe9\n")
    refused(["run", "--grid", grid], capsys, finished, f"grid {grid}:5: not UTF-8")


def test_a_csv_field_over_128_kib_is_read(tmp_path):
    """csv's default field limit is 128 KiB: a long document is a text, read whole."""
    from benchmark.tasks import TASKS

    rows = reviews()
    rows[0] = ("long " * 40_000 + rows[0][0], rows[0][1])  # 200 KB
    examples = TASKS.create("custom", spec=write_task(tmp_path, rows)).load_examples()
    assert max(len(t[0]) for t in examples.texts) > 200_000 and len(examples) == 60


def test_a_runs_dir_that_is_a_file_is_refused(tmp_path, capsys, finished):
    (tmp_path / "runs").write_text("not a folder")
    capsys.readouterr()
    for command in (["run", "--tasks", finished[1], "--no-progress"], ["status", "--tasks", finished[1]],
                    ["run", "--tasks", finished[1], "--dry-run"]):
        assert main([*command, "--runs-dir", str(tmp_path / "runs")]) == 2
        assert f"--runs-dir {tmp_path / 'runs'}: a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_an_out_folder_that_is_a_file_is_refused_before_anything_runs(tmp_path, capsys, finished):
    (tmp_path / "out").write_text("x")
    refused(["run", "--tasks", finished[1], "--dpcs", "3", "--out", str(tmp_path / "out")], capsys, finished,
            f"--out {tmp_path / 'out'}: a file, not a folder")
    assert main(["run", "--tasks", finished[1], "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()  # a new runs folder is not even made


def test_a_read_only_runs_folder_is_refused(capsys, finished):
    """/sys is read-only even for root (chmod does not stop root): a runs folder there cannot be made."""
    target = Path("/sys/dilm-bench-runs")
    if os.access("/sys", os.W_OK) and not target.parent.is_mount():
        pytest.skip("/sys is writable here")
    capsys.readouterr()
    assert main(["run", "--tasks", finished[1], "--runs-dir", str(target), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--runs-dir {target}: cannot write there" in err and "writable folder" in err and "Traceback" not in err


@pytest.mark.parametrize("learner, words", [
    ("{name: tfidf-logreg, params: {C: -1}}", "parameter 'C' must satisfy C > 0, got -1"),
    ("{name: tfidf-logreg, params: {ngram_max: 0}}", "parameter 'ngram_max' must satisfy ngram_max >= 1, got 0"),
    ("{name: tfidf-logreg, params: {C: .nan}}", "parameter 'C' must satisfy C > 0, got nan"),
    ("{name: bow-ngrams, params: {lr: 0}}", "parameter 'lr' must satisfy lr > 0, got 0"),
    ("{name: minilm, params: {steps: 0}}", "parameter 'steps' must satisfy steps >= 1, got 0"),
    ("{name: minilm, params: {warmup_ratio: 1.5}}", "'warmup_ratio' must satisfy 0 <= warmup_ratio <= 1, got 1.5"),
    ("{name: tfidf-logreg, params: {class_weight: weighted}}",
     "'class_weight' must be one of 'auto', 'none', 'balanced', got 'weighted'"),
])
def test_a_parameter_out_of_its_range_is_refused_when_the_grid_is_read(tmp_path, capsys, finished, learner, words):
    grid = grid_file(tmp_path, GRID.format(task=finished[1], learner=learner))
    for extra in ([], ["--dry-run"]):  # the dry run checks it too: nothing would run
        refused(["run", "--grid", grid, *extra], capsys, finished, f"grid {grid}", words, "change it in the grid")


@pytest.mark.parametrize("method, words", [
    ("{name: dilm, params: {generator_lr: -1.0e-5}}", "method 'dilm': parameter 'generator_lr' must satisfy "
                                                      "generator_lr > 0, got -1e-05"),
    ("{name: vanilla-lm, params: {top_p: 1.5}}", "parameter 'top_p' must satisfy 0 < top_p <= 1, got 1.5"),
    ("{name: tdd, params: {outer_steps: 0}}", "parameter 'outer_steps' must satisfy outer_steps >= 1, got 0"),
])
def test_a_method_parameter_out_of_its_range_is_refused(tmp_path, capsys, finished, method, words):
    grid = grid_file(tmp_path, f"tasks: [{finished[1]}]\ndpcs: [2]\nmethods: [{method}]\nlearners: [minilm]\n")
    refused(["run", "--grid", grid], capsys, finished, words)


def test_a_report_out_folder_that_is_a_file_is_refused(tmp_path, capsys, finished):
    (tmp_path / "out").write_text("x")
    capsys.readouterr()
    assert main(["report", str(finished[0]), "--out", str(tmp_path / "out")]) == 2
    assert f"--out {tmp_path / 'out'}: a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "x"


def test_a_task_parameter_out_of_its_range_is_refused(tmp_path, capsys, finished):
    grid = grid_file(tmp_path, GRID.format(task="{name: tiny-sentiment, params: {test_fraction: 1.5}}",
                                           learner="tfidf-logreg"))
    refused(["run", "--grid", grid], capsys, finished, "task 'tiny-sentiment'", "'test_fraction' must satisfy "
            "0 < test_fraction < 1, got 1.5")


def subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def done_lines(runs: Path, pid: int | None = None) -> list[dict]:
    journal = runs / "journal.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()] if journal.is_file() else []
    return [e for e in lines if e["event"] == "done" and (pid is None or e["pid"] == pid)]


def test_ctrl_c_exits_130_with_the_cells_finished_and_no_traceback(tmp_path):
    spec = write_task(tmp_path)
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmark", "-q", "run", "--tasks", spec, "--methods", "random", "--learners",
         "tfidf-logreg", "--dpcs", "2", "--n-sets", "40", "--n-evals", "10", "--runs-dir", str(runs), "--no-progress",
         "--no-html"], cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len([e for e in done_lines(runs) if e["stage"] == "evaluate"]) < 3:
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    finished = done_lines(runs, process.pid)
    assert process.returncode == 130, err
    assert f"interrupted: {len(finished)} cells finished, run again to resume" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len(finished) >= 3 + 40 + 1  # the fit, the 40 sets and the learner runs done before the signal
    for entry in finished:  # every cell the journal calls done is whole
        cell = runs / entry["stage"] / entry["cell_id"]
        assert (cell / "done").exists() and json.loads((cell / "record.json").read_text())["cell_id"] == entry["cell_id"]


# --- item 8: --force takes each cell's lock -------------------------------------------------------------------------

def test_force_leaves_a_cell_another_runner_holds_and_redoes_the_others(tmp_path, capsys):
    spec = write_task(tmp_path)
    argv = ["-q", "run", "--tasks", spec, "--methods", "random", "--learners", "tfidf-logreg", "--dpcs", "2",
            "--n-sets", "3", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-progress",
            "--no-html"]
    assert main(argv) == 0
    cells = sorted((tmp_path / "runs" / "evaluate").iterdir())
    held = cells[1]
    before = {c: (c / "record.json").read_bytes() for c in cells}
    runner = subprocess.Popen(  # a second runner: holds the cell's lock as run_cell does while it runs the cell
        [sys.executable, "-c", "import fcntl, sys\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
                               "print('locked', flush=True)\nsys.stdin.read()\n", str(held / ".lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout.readline().strip() == "locked"
        capsys.readouterr()
        assert main([*argv, "--force"]) == 0
        err = capsys.readouterr().err
    finally:
        runner.stdin.close()
        runner.wait(timeout=30)
    assert "--force left 1 cell(s) that another runner is running as they are" in err and held.name in err
    assert (held / "done").exists() and (held / "record.json").read_bytes() == before[held]
    redone = [c for c in cells if c != held]
    assert all((c / "done").exists() for c in redone)
    assert all(json.loads((c / "record.json").read_text())["started_at"] >= json.loads(before[c])["started_at"]
               for c in redone)
    journal = done_lines(tmp_path / "runs")
    assert sum(e["cell_id"] == held.name for e in journal) == 1  # never run again under its runner
    assert all(sum(e["cell_id"] == c.name for e in journal) == 2 for c in redone)


# --- item 10: defaults that do not mislead --------------------------------------------------------------------------

def spam_like(folder: Path) -> str:
    """A spam corpus as a new user brings it: 15% spam in train, a balanced given test split, macro-F1 declared; one
    spam word in each spam text among common words (learnable, but an unweighted learner on the whole train split
    predicts ham for everything)."""
    rng = random.Random(0)
    common, spam, ham = [f"w{i}" for i in range(300)], [f"spam{i}" for i in range(12)], [f"ham{i}" for i in range(12)]

    def text(label):
        words = rng.sample(common, 5) + [rng.choice(spam if label == "spam" else ham)]
        rng.shuffle(words)
        return " ".join(words)

    folder.mkdir(parents=True, exist_ok=True)
    for name, counts in (("train.csv", {"ham": 380, "spam": 67}), ("test.csv", {"ham": 50, "spam": 50})):
        rows = [(text(label), label) for label, n in counts.items() for _ in range(n)]
        (folder / name).write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    (folder / "spam.yaml").write_text(json.dumps({"name": "spam", "path": "train.csv", "test_path": "test.csv",
                                                  "text_fields": ["text"], "label_field": "label",
                                                  "metric": "macro_f1"}))
    return str(folder / "spam.yaml")


def test_imbalanced_classes_weigh_by_default_say_so_and_an_unweighted_full_row_is_flagged(tmp_path, capsys):
    spec = spam_like(tmp_path)
    grid = grid_file(tmp_path, f"tasks: [{spec}]\ndpcs: [5]\nmethods: [full, random]\nn_sets: 3\nlearners:\n"
                               f"  - tfidf-logreg\n  - {{name: tfidf-logreg, params: {{class_weight: none}}}}\n")
    assert main(["-q", "run", "--grid", grid, "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--no-progress", "--no-html"]) == 0
    scores: dict = {}
    for record in Store(tmp_path / "runs").done_records("evaluate"):
        given = record["config"]["learner"]["params"].get("class_weight", "default")
        scores.setdefault((given, record["config"]["method"]["name"]), []).append(record["metrics"]["macro_f1"])
        if given == "default":
            assert record["recipe"]["class_weight"] == "balanced"
            assert record["class_weight_reason"].startswith("auto: train classes imbalanced (ham 3")
        else:
            assert record["recipe"]["class_weight"] == "none" and "class_weight_reason" not in record
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean[("default", "full")] > mean[("default", "random")] > mean[("none", "full")]
    assert mean[("none", "full")] == pytest.approx(1 / 3, abs=0.01)  # all ham: the unweighted Full row collapses
    notes = (tmp_path / "out" / "leaderboard.md").read_text()
    assert ("Warning: the Full dataset scores no higher than Random (tfidf-logreg (class_weight=none) on spam: "
            "Full 33.3 vs Random") in notes
    assert "on imbalanced or many-class data give it `class_weight: balanced`" in notes
    assert "Random (tfidf-logreg on spam" not in notes  # the default learner's Full row is above Random


def test_a_balanced_accuracy_task_keeps_its_learners_unweighted_and_its_cell_ids(tmp_path):
    """Leaving class_weight to its default (auto) names the same cells as before it existed, and on balanced data
    with accuracy it trains unweighted."""
    from benchmark.learners import LEARNERS
    from benchmark.study.cells import expand
    from benchmark.study.checks import check_grid
    from benchmark.study.grid import load_grid
    from benchmark.tasks import TASKS

    spec = write_task(tmp_path)
    grid = check_grid(load_grid(grid_file(tmp_path, GRID.format(task=spec, learner="tfidf-logreg"))))
    assert grid.learners[0].kwargs == {}
    assert all("class_weight" not in c.config["learner"]["params"] for c in expand(grid)["evaluate"])
    learner = LEARNERS.create("tfidf-logreg").for_task(TASKS.create("custom", spec=spec))
    assert learner.class_weight == "none" and learner.class_weight_reason.startswith("auto: train classes balanced")
