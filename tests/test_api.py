"""The harness as Python calls (``benchmark.api``), without the command line: what a notebook or script does."""
from pathlib import Path

import pandas as pd
import pytest

from benchmark import api
from benchmark.core.errors import UsageError


def test_a_grid_runs_and_reports_through_the_api(tmp_path):
    grid_file = tmp_path / "tiny.yaml"
    grid_file.write_text("name: tiny\ntasks: [tiny-sentiment]\ndpcs: [2, 4]\nmethods: [full, random, herding]\n"
                         "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    grid = api.open_grid(str(grid_file), overrides={"methods": ["full", "random"]})
    assert [m.name for m in grid.methods] == ["full", "random"] and grid.name.startswith("tiny-")
    runs = tmp_path / "runs"
    before = {row.stage: (row.cells, len(row.pending)) for row in api.plan(grid, runs)}
    assert before == {"fit": (2, 2), "distill": (5, 5), "evaluate": (5, 5)}  # full: one set for every DPC
    lines = []
    done = api.run_grid(grid, runs, out=tmp_path / "out", progress=False, echo=lines.append)
    assert done.failures == [] and lines[0].startswith(f"grid {grid.name!r}")
    assert done.out_dir == tmp_path / "out" and "| Random |" in done.markdown
    table = pd.read_csv(done.out_dir / "leaderboard.csv")
    assert set(table["method"]) == {"full", "random"} and (table["n"] > 0).all()
    assert [row.counts for row in api.status(grid, runs)] == [{"done": n, "running": 0, "failed": 0, "pending": 0}
                                                             for n in (2, 5, 5)]
    assert all(not row.pending for row in api.plan(grid, runs))  # a second run has nothing to do
    assert api.report(runs, tmp_path / "again") == (tmp_path / "again" / "leaderboard.md").read_text()


def test_api_errors_are_usage_errors_before_anything_is_written(tmp_path):
    with pytest.raises(UsageError, match="unknown learner 'minilmm'.*Did you mean 'minilm'"):
        api.open_grid("demo", overrides={"learners": ["minilmm"]}, load_data=False)
    with pytest.raises(UsageError, match="holds no evaluate records"):
        api.report(tmp_path / "nothing", tmp_path / "out")
    assert not (tmp_path / "out").exists()
