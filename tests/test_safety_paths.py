"""Names that become paths (#51): a task's declared name, a grid's name (or its file's), method, learner and preset
names, the caches' file names and the export folders are checked where they are read. A name that could leave its
folder, hide in it or break it exits 2 naming the rule and the name, and nothing is written anywhere."""
import json
import os

import pytest

from benchmark.authoring.testing import NEGATIVE, POSITIVE, TinySentiment
from benchmark.cli import main
from benchmark.core.errors import UsageError
from benchmark.core.names import safe_name

BAD_NAMES = {"dotdot": "../../escaped", "slash": "a/b", "absolute": "/tmp/escaped-abs", "nul": "a\0b",
             "newline": "a\nb", "long": "x" * 300, "hidden": ".hidden"}
RULE_WORDS = "may hold only letters, digits, '.', '_' and '-', at most 100 characters, not starting with '.'"


def tree(root):
    """Every path under ``root`` with its size (files) or None (folders): what a command wrote."""
    return {os.path.relpath(os.path.join(d, n), root): (os.path.getsize(os.path.join(d, n)) if n in files else None)
            for d, dirs, files in os.walk(root) for n in dirs + files}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A data file, a grid folder and the runs / out / cache folders, all under one root whose tree is compared."""
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "work" / "cache"))
    data = tmp_path / "work" / "data"
    data.mkdir(parents=True)
    rows = [(f"{NEGATIVE[i % 6]} {i}", "bad") for i in range(20)] + [(f"{POSITIVE[i % 6]} {i}", "good") for i in range(20)]
    (data / "reviews.csv").write_text("review,stars\n" + "\n".join(f'"{t}",{y}' for t, y in rows) + "\n")
    return tmp_path


def run(root, grid: dict, capsys, filename="grid.yaml"):
    """``run --grid`` of ``grid`` (written as JSON, which YAML reads) with its runs, out and cache under ``root``:
    (exit code, stderr, whether the tree under ``root`` is unchanged apart from the grid file)."""
    path = root / "work" / "data" / filename
    path.write_text(json.dumps(grid))
    before = tree(root)
    code = main(["run", str(root / "work" / "runs"), "--grid", str(path), "--out", str(root / "work" / "out"),
                 "--no-progress"])
    return code, capsys.readouterr().err, tree(root) == before


def base_grid(**changes):
    return {"name": "safe", "tasks": ["tiny-sentiment"], "dpcs": [2], "methods": ["random"],
            "learners": ["tfidf-logreg"], **changes}


def spec_grid(root, name):
    (root / "work" / "data" / "task.yaml").write_text(json.dumps({"name": name, "path": "reviews.csv",
                                                                  "text_fields": ["review"], "label_field": "stars"}))
    return base_grid(tasks=["task.yaml"])


KINDS = {
    "task name": (lambda root, bad: spec_grid(root, bad), "key 'name'"),
    "grid name": (lambda root, bad: base_grid(name=bad), "key 'name'"),
    "method name": (lambda root, bad: base_grid(methods=[bad]), "methods[0]"),
    "method name in a mapping": (lambda root, bad: base_grid(methods=[{"name": bad}]), "methods[0].name"),
    "learner name": (lambda root, bad: base_grid(learners=[bad]), "learners[0]"),
    "task name in a grid": (lambda root, bad: base_grid(tasks=[bad]), "tasks[0]"),
}


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_an_unsafe_name_exits_2_naming_the_rule_and_writes_nothing(workspace, capsys, kind, bad):
    make, where = KINDS[kind]
    code, err, unchanged = run(workspace, make(workspace, bad), capsys)
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1  # one line, no traceback
    assert where in err and RULE_WORDS in err and "is not a safe name" in err
    assert (repr(bad) if len(bad) <= 60 else "(300 characters)") in err
    assert unchanged  # no runs folder, no leaderboard, no cache entry: nothing at all, inside or outside
    assert not os.path.exists("/tmp/escaped-abs")


def test_a_grid_named_by_an_unsafe_file_name_exits_2(workspace, capsys):
    grid = base_grid()
    del grid["name"]
    code, err, unchanged = run(workspace, grid, capsys, filename="my grid.yaml")
    assert code == 2 and "its file name (no 'name' key)" in err and "'my grid'" in err and "holds ' '" in err
    assert unchanged


@pytest.mark.parametrize("bad", ["../../escaped", "/tmp/escaped-abs", "x" * 300])
def test_an_unknown_preset_exits_2_and_writes_nothing(workspace, capsys, bad):
    """A method's preset is looked up among its presets, never joined into a path: anything else is unknown."""
    code, err, unchanged = run(workspace, base_grid(methods=[{"name": "dilm", "params": {"preset": bad}}]), capsys)
    assert code == 2 and "unknown DiLM preset" in err and unchanged


def test_a_safe_name_passes_and_runs(workspace, capsys):
    code, err, _ = run(workspace, spec_grid(workspace, "My_reviews-2.v1"), capsys)
    assert code == 0, err
    assert (workspace / "work" / "out" / "leaderboard.md").is_file()
    assert any(p.name.startswith("My_reviews-2.v1.random") for p in (workspace / "work" / "runs" / "evaluate").iterdir())


class Unsafe(TinySentiment):
    """A plugin task whose name is not a file name: the caches refuse it before they write."""

    name = "../../escaped"


def test_the_caches_refuse_an_unsafe_task_name(workspace):
    from dilm.config import DiLMConfig
    from methods.embeddings import EmbeddingSpace, cache_path
    from methods.generative import cached_stage
    from methods.tdd import PRESETS, cached_artifact

    task, cfg = Unsafe(), dict(PRESETS["cpu"].__dict__)
    task.splits  # its split indices are cached by content, not by name
    before = tree(workspace)
    for bad in BAD_NAMES.values():
        task.name = bad
        for build in (lambda: cache_path(task, task.splits.train, EmbeddingSpace()),
                      lambda: cached_artifact(task, cfg, 2, 0),
                      lambda: cached_stage("stage1", task, DiLMConfig(), {}, lambda staging, partial: None)):
            with pytest.raises(UsageError, match=r"^task name .* is not a safe name \(.*\): a name becomes a file name"):
                build()
    assert tree(workspace) == before and not os.path.exists("/tmp/escaped-abs")


def test_the_registries_refuse_an_unsafe_name():
    from benchmark.tasks import TASKS

    with pytest.raises(ValueError, match="task 'a/x' .* cannot be registered: holds '/'"):
        TASKS.register("a/x")(Unsafe)
    assert "a/x" not in TASKS


def test_safe_name_shortens_a_long_name_in_its_message():
    with pytest.raises(UsageError) as info:
        safe_name("y" * 300, "grid name", "grid g.yaml: key 'name'")
    assert str(info.value).startswith("grid g.yaml: key 'name': grid name 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'"
                                      "...(300 characters) is not a safe name (300 characters)")
    assert safe_name("a.b-c_D9", "task name") == "a.b-c_D9"
