"""The HTML leaderboard of a 200-cell runs folder: build time and weight. Target: <= 10 s and <= 5 MB.

The runs folder: tiny-sentiment, Full and Random at DPC 1-5, 10 Random sets x 2 learner runs x 2 learners
(200 Random runs + 4 Full runs), made once per session (about a minute) through the real runner.
Run: ``.venv/bin/python -m pytest perf/test_html_site.py --benchmark-only -s``
"""
import shutil

import pytest

from benchmark import api
from benchmark.authoring.testing import TinySentiment
from benchmark.report.output import write_report
from benchmark.tasks import TASKS

if "tiny-sentiment" not in TASKS.names():
    TASKS.register("tiny-sentiment")(TinySentiment)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site200")
    (folder / "grid.yaml").write_text("name: site200\ntasks: [tiny-sentiment]\ndpcs: [1, 2, 3, 4, 5]\n"
                                      "methods: [full, random]\nlearners: [tfidf-logreg, bow-ngrams]\n"
                                      "n_sets: 10\nn_evals: 2\n")
    grid = api.open_grid(str(folder / "grid.yaml"))
    done = api.run_grid(grid, folder / "runs", out=folder / "out", progress=False, echo=lambda line: None, html=False)
    assert done.failures == []
    return folder / "runs"


def test_a_200_cell_site_builds_in_10_s_and_weighs_5_mb(benchmark, runs, tmp_path):
    def build():
        out = tmp_path / "site"
        shutil.rmtree(out, ignore_errors=True)
        write_report(runs, out, html=True)  # everything the site shows: tables, CSVs, plots, pages
        return out

    site = benchmark.pedantic(build, rounds=3, iterations=1)
    cells = len(list((runs / "evaluate").glob("*/record.json")))
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(f"\n{cells} evaluate cells: leaderboard, plots and site in {benchmark.stats['median']:.2f} s (median of 3), "
          f"{size / 1e6:.2f} MB in {len(list(site.rglob('*.html')))} pages")
    assert cells >= 200
    assert benchmark.stats["median"] <= 10.0 and size <= 5e6


def test_the_same_report_carried_from_its_runs_csv(benchmark, runs, tmp_path):
    """The 204 runs carried from the report's runs.csv into an empty runs folder: reading and rebuilding the tables
    and plots (no site: the sets stay with the records), and the same leaderboard.csv."""
    first = tmp_path / "first"
    write_report(runs, first)
    empty = tmp_path / "empty"
    empty.mkdir()

    def carried():
        out = tmp_path / "carried"
        shutil.rmtree(out, ignore_errors=True)
        write_report(empty, out, carry=[first])
        return out

    out = benchmark.pedantic(carried, rounds=3, iterations=1)
    size = (first / "runs.csv").stat().st_size
    print(f"\nruns.csv of {sum(1 for _ in open(first / 'runs.csv')) - 1} runs: {size / 1e3:.0f} kB; report from it in "
          f"{benchmark.stats['median']:.2f} s (median of 3)")
    assert (out / "leaderboard.csv").read_text() == (first / "leaderboard.csv").read_text()
