"""Runs carried from another report's runs.csv (``report --carry``): a study split over two runs folders, one of
them gone but for its committed report, gives the same leaderboard as the whole study; the runs folder's own records
win; a wrong --carry fails before anything is written."""
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.core.errors import UsageError
from benchmark.core.provenance import shown
from benchmark.report.carried import carried_clean_scores, read_runs, write_runs
from benchmark.report.records import load_records
from benchmark.report.output import write_report

FIXTURES = Path(__file__).parent / "fixtures" / "report_runs"
COMPARED = ["leaderboard.csv", "comparisons.csv", "costs.csv"]


def split_study(tmp_path: Path) -> tuple[Path, Path]:
    """The fixture study's report (its runs.csv) and a copy of its runs folder without the TF-IDF and ICL evaluate
    records: those runs survive only in the report."""
    whole = tmp_path / "whole"
    write_report(FIXTURES, whole, dpcs=[5, 10], plots=False)
    part = tmp_path / "part"
    shutil.copytree(FIXTURES, part)
    for cell in (part / "evaluate").iterdir():
        if ".tfidf-logreg." in cell.name or ".smollm2-icl." in cell.name:
            shutil.rmtree(cell)
    return whole, part


def test_runs_csv_has_one_row_per_run_and_reads_back_as_the_records(tmp_path):
    records = load_records(FIXTURES)
    out = tmp_path / "report"
    write_report(FIXTURES, out, dpcs=[5, 10], plots=False)
    back = read_runs(out).set_index("cell_id").sort_index()
    records = records.set_index("cell_id").sort_index()
    assert list(back.index) == list(records.index) and len(back) == 52
    for column in ["metric.accuracy", "wall_s", "peak_rss_mib", "set_seed", "fit_seed", "dpc", "eval_seed"]:
        pd.testing.assert_series_equal(back[column], records[column], check_dtype=False, check_names=False,
                                      check_index_type=False)
    for column in ["method", "learner", "code_version", "git_commit", "distill_cell", "precision", "reference"]:
        assert back[column].tolist() == records[column].tolist(), column
    assert back["config"].tolist() == [shown(c) for c in records["config"]]  # absolute paths cut: /data/x -> .../data/x
    assert back["config"].tolist() != records["config"].tolist()
    assert back["learner_accepts"].tolist() == records["learner_accepts"].tolist()
    assert back["carried_from"].eq(str(out / "runs.csv")).all()


def test_a_report_carrying_the_missing_runs_equals_the_whole_studys(tmp_path):
    whole, part = split_study(tmp_path)
    alone = tmp_path / "alone"
    write_report(part, alone, dpcs=[5, 10], plots=False)
    assert (alone / "leaderboard.csv").read_text() != (whole / "leaderboard.csv").read_text()  # the split matters
    merged = tmp_path / "merged"
    write_report(part, merged, dpcs=[5, 10], plots=False, carry=[whole])
    for name in COMPARED:
        assert (merged / name).read_text() == (whole / name).read_text(), name
    note = f"29 of the 52 runs are carried from another report's runs.csv ({shown(str(whole / 'runs.csv'))})"
    for name in ("leaderboard.md", "leaderboard.tex"):  # the same tables, and a note that says what is carried
        produced, expected = (merged / name).read_text(), (whole / name).read_text()
        assert note in produced and note not in expected
        assert [line for line in produced.splitlines() if note not in line] == expected.splitlines()
    written = pd.read_csv(merged / "runs.csv")  # carried rows keep where they came from; this folder's say nothing
    assert len(written) == 52 and written["carried_from"].eq(".../whole/runs.csv").sum() == 29
    assert written.loc[written["carried_from"].isna(), "cell_id"].str.contains(".bert-base-uncased.").all()
    assert str(tmp_path) not in (merged / "runs.csv").read_text()  # no folder of this machine in a committed file
    alone_runs, whole_runs = pd.read_csv(merged / "runs.csv"), pd.read_csv(whole / "runs.csv")
    pd.testing.assert_frame_equal(alone_runs.drop(columns="carried_from"), whole_runs.drop(columns="carried_from"))


def test_runs_csv_columns_keep_one_order_whichever_rows_came_first(tmp_path):
    """Own and carried rows bring their columns in another order (a carried learner's recipe keys come last): the
    file's columns are the same either way, so a study re-reported on another machine changes only where runs do."""
    records = load_records(FIXTURES)
    write_runs(records, tmp_path / "a.csv")
    write_runs(records[list(reversed(records.columns))], tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert (tmp_path / "a.csv").read_text().startswith("cell_id,task,method,reference,dpc,")


def test_the_runs_folders_own_record_wins_over_a_carried_row(tmp_path):
    whole, part = split_study(tmp_path)
    edited = pd.read_csv(whole / "runs.csv")
    bert = edited["cell_id"].str.contains(".bert-base-uncased.")
    edited.loc[bert, "metric.accuracy"] = 0.0  # a carried copy of a run this folder holds, with another score
    edited.to_csv(whole / "runs.csv", index=False)
    merged = tmp_path / "merged"
    write_report(part, merged, dpcs=[5, 10], plots=False, carry=[whole])
    summary = pd.read_csv(merged / "leaderboard.csv")
    bert_means = summary.loc[(summary["learner"] == "bert-base-uncased") & (summary["status"] == "ok"), "mean"]
    assert len(bert_means) and (bert_means > 40).all()


def test_cell_pages_list_carried_runs_with_their_provenance(tmp_path):
    pytest.importorskip("jinja2")
    whole, part = split_study(tmp_path)
    merged = tmp_path / "merged"
    write_report(part, merged, dpcs=[5, 10], plots=False, html=True, carry=[whole])
    page = (merged / "cells").glob("sst2.DiLM-released-.5-*.html")
    text = next(page).read_text(encoding="utf-8")
    carried = read_runs(whole)
    run = carried[carried["cell_id"] == "sst2.external.dpc5.s0.tfidf-logreg.r0-fixture"].iloc[0]
    row = text.split('<tr id="sst2.external.dpc5.s0.tfidf-logreg.r0-fixture">')[1].split("</tr>")[0]
    assert f"{100 * run['metric.accuracy']:.2f} accuracy" in row and run["git_commit"] in row
    assert "carried from" in row and "carried from" not in text.split(
        '<tr id="sst2.external.dpc5.s0.bert-base-uncased.r0-fixture">')[1].split("</tr>")[0]


@pytest.mark.real
def test_a_set_whose_records_are_elsewhere_is_not_shown_as_empty(tmp_path, rt_assets):
    """Random's set 1 on rt-polarity (real runner, TF-IDF) with its distill and evaluate records gone but for the
    first report: carried back, its page says its texts are not here (with --no-texts too, instead of pointing at a
    file that is not there) and gives no count, never "0 examples"; set 0, still here, keeps its count."""
    from benchmark import api

    (tmp_path / "grid.yaml").write_text("name: carry-set\ntasks: [rt-polarity]\ndpcs: [2]\nmethods: [random]\n"
                                        "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    done = api.run_grid(api.open_grid(str(tmp_path / "grid.yaml")), tmp_path / "runs", out=tmp_path / "first",
                        progress=False, echo=lambda line: None, html=False)
    assert done.failures == []
    whole = tmp_path / "whole"
    assert main(["report", str(tmp_path / "runs"), "--out", str(whole)]) == 0
    runs = read_runs(whole)
    set1 = runs.loc[runs["set_seed"] == 1, "distill_cell"].iloc[0]
    gone = [tmp_path / "runs" / "distill" / set1] + [tmp_path / "runs" / "evaluate" / c
                                                      for c in runs.loc[runs["set_seed"] == 1, "cell_id"]]
    for cell in gone:
        shutil.rmtree(cell)
    set0 = runs.loc[runs["set_seed"] == 0, "distill_cell"].iloc[0]
    for flags in ([], ["--no-texts"]):
        merged = tmp_path / f"merged{len(flags)}"
        assert main(["report", str(tmp_path / "runs"), "--out", str(merged), "--html", "--carry", str(whole),
                     *flags]) == 0
        text = next((merged / "cells").glob("rt-polarity.Random.2-*.html")).read_text(encoding="utf-8")
        article = text.split(f'<article id="{set1}">')[1].split("</article>")[0]
        assert "texts are not in the runs folder: its runs are carried from" in article
        assert " examples" not in article and "distilled.jsonl" not in article
        assert "; 4 examples" in text.split(f'<article id="{set0}">')[1].split("</article>")[0]


def test_a_wrong_carry_fails_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "not-a-report").mkdir()
    assert main(["report", str(FIXTURES), "--out", str(out), "--carry", str(tmp_path / "not-a-report")]) == 2
    error = capsys.readouterr().err
    assert "runs.csv" in error and "not-a-report" in error and not out.exists()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert main(["report", str(FIXTURES), "--out", str(out), "--carry", str(tmp_path / "bad.csv")]) == 2
    assert "lacks the columns" in capsys.readouterr().err and not out.exists()


def test_clean_scores_carry_the_cells_not_rescored_here_and_refuse_another_leak(tmp_path):
    key = {"task": "t", "learner": "l", "dpc": 5}
    here = pd.DataFrame([{**key, "method": "B", "n": 5, "clean_mean": 60.0}]).assign(test_rows_removed=15)
    (tmp_path / "runs.csv").write_text("cell_id\n")
    pd.DataFrame([{**key, "method": "B", "n": 5, "clean_mean": 10.0},  # re-scored here: this folder's row wins
                  {**key, "method": "A", "n": 5, "clean_mean": 55.0}]).to_csv(tmp_path / "clean-test.csv", index=False)
    merged = carried_clean_scores(here, [tmp_path])  # in key order, whichever rows were re-scored here
    assert merged[["method", "clean_mean"]].values.tolist() == [["A", 55.0], ["B", 60.0]]
    assert merged["carried_from"].tolist() == [shown(str(tmp_path / "clean-test.csv")), None]
    pd.DataFrame([{**key, "method": "B", "n": 5, "clean_mean": 55.0, "test_rows_removed": 9}]).to_csv(
        tmp_path / "clean-test.csv", index=False)
    with pytest.raises(UsageError, match="removed \\[9\\] test rows"):
        carried_clean_scores(here, [tmp_path])


@pytest.mark.real
def test_a_real_rt_polarity_study_split_over_two_machines_reports_as_one(tmp_path, rt_assets):
    """rt-polarity through the real runner (Random and Herding under TF-IDF, 2 runs per set): the Herding runs'
    records are gone but for the first report; carried back, the tables are the whole study's, the page lists the
    carried runs beside the set this folder still holds, and runs.csv names no folder of this machine."""
    from benchmark import api

    (tmp_path / "grid.yaml").write_text("name: carry-real\ntasks: [rt-polarity]\ndpcs: [2]\nmethods: [random, herding]\n"
                                        "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 2\n")
    done = api.run_grid(api.open_grid(str(tmp_path / "grid.yaml")), tmp_path / "runs", out=tmp_path / "first",
                        progress=False, echo=lambda line: None, html=False)
    assert done.failures == []
    whole = tmp_path / "whole"
    assert main(["report", str(tmp_path / "runs"), "--out", str(whole)]) == 0
    for cell in (tmp_path / "runs" / "evaluate").iterdir():
        if ".herding." in cell.name:
            shutil.rmtree(cell)
    merged = tmp_path / "merged"
    assert main(["report", str(tmp_path / "runs"), "--out", str(merged), "--html", "--carry", str(whole)]) == 0
    for name in COMPARED:
        assert (merged / name).read_text() == (whole / name).read_text(), name
    herding = next((merged / "cells").glob("rt-polarity.herding.2-*.html")).read_text(encoding="utf-8")
    assert herding.count("carried from") == 2 and "Set 0" in herding  # 2 runs of the one Herding set, its texts here
    assert str(tmp_path) not in (merged / "runs.csv").read_text()
