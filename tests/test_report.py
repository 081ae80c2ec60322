"""The leaderboard: golden files (committed fixture records -> committed markdown/LaTeX/CSV, DomainBed
style) with failed, missing and n/a cells, the statistics, and the records API."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.report.leaderboard import build_report
from benchmark.report.records import load_records
from benchmark.report.statistics import Expected, summarise
from benchmark.report.output import write_report

FIXTURES = Path(__file__).parent / "fixtures" / "report_runs"
GOLDEN = Path(__file__).parent / "golden"


def fixture_expected():
    """The grid behind the fixtures also asked for an embedding-level method `tdd`: n/a on TF-IDF."""
    expected = Expected()
    for dpc in (5, 10):
        expected.cells[("sst2", "tfidf-logreg", "tdd", dpc)] = "n/a"
        expected.cells[("sst2", "bert-base-uncased", "tdd", dpc)] = "expected"
    return expected


@pytest.mark.parametrize("name", ["leaderboard.md", "leaderboard.tex", "leaderboard.csv", "comparisons.csv", "costs.csv"])
def test_golden_files(tmp_path, name):
    write_report(FIXTURES, tmp_path, dpcs=[5, 10], expected=fixture_expected(), plots=False)
    produced = (tmp_path / name).read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        (GOLDEN / name).write_text(produced, encoding="utf-8")
    assert produced == (GOLDEN / name).read_text(encoding="utf-8")


def test_cells_show_their_status_and_the_footer_counts_them():
    markdown = (GOLDEN / "leaderboard.md").read_text(encoding="utf-8")
    bert = markdown.split("### Learner: bert-base-uncased")[1].split("###")[0]
    tfidf = markdown.split("### Learner: tfidf-logreg")[1].split("###")[0]
    assert "| kmeans-centers | " in bert and "| fail" in bert.split("| kmeans-centers |")[1].splitlines()[0]
    assert bert.split("| tdd |")[1].splitlines()[0].strip() == "- | - |"  # asked for, never ran
    assert tfidf.split("| tdd |")[1].splitlines()[0].strip() == "n/a (embedding-level) | n/a (embedding-level) |"  # cannot run
    assert tfidf.split("| kmeans-centers |")[1].splitlines()[0].split("|")[1].strip() == "-"  # missing
    assert "*published: Maekawa et al., Findings of NAACL 2024, BERT-base learner (published)*" in bert
    assert "| DiLM | 72.5 ± 5.9 | 76.3 ± 4.6 |" in bert
    assert "*reference rows*" in bert and "| Full dataset |" in bert and "| Random |" in bert
    assert "Cells: 20 with results, 1 failed (fail), 13 missing (-), 2 not applicable (n/a)." in markdown
    icl = markdown.split("### In-context learning: smollm2-icl")[1].split("###")[0]  # its own table, after the others
    assert markdown.index("### In-context learning") > markdown.index("### Learner: tfidf-logreg")
    assert "| DiLM (released) | **71.0 ± 0.8 (1×3)**" in icl and "published" not in icl


def test_each_cell_says_the_precision_its_runs_stepped_in_and_marks_a_mix():
    """``precision: auto`` resolves per machine (bf16 with AVX-512 BF16 or a GPU, else fp32): the fixture's Herding
    DPC-5 runs under BERT stepped in bf16, bf16 and fp32, so that cell reads "bf16+fp32" and carries °; cells whose
    records say nothing (non-fine-tuned, older records) read "" and carry no mark."""
    summary = summarise(load_records(FIXTURES), dpcs=[5, 10])
    by_cell = {(r.learner, r.method, r.dpc): r.precision for r in summary.itertuples()}
    assert by_cell[("bert-base-uncased", "herding", 5)] == "bf16+fp32"
    assert {v for k, v in by_cell.items() if k != ("bert-base-uncased", "herding", 5)} == {""}
    markdown = (GOLDEN / "leaderboard.md").read_text(encoding="utf-8")
    bert = markdown.split("### Learner: bert-base-uncased")[1].split("###")[0]
    assert "| herding | 67.0 ± 0.8 (1×3)▲° | 67.0 ± 0.8 (1×3) |" in bert
    assert "Fine-tuned runs stepped in bf16 and fp32" in markdown and "° the runs of this cell" in markdown
    one = load_records(FIXTURES)
    one = one[(one.method == "herding") & (one.dpc == 5) & (one.learner == "bert-base-uncased")]
    assert summarise(one.assign(precision="bf16"), dpcs=[5])["precision"].tolist() == ["bf16"]


def test_statistics():
    records = load_records(FIXTURES)
    summary = summarise(records, dpcs=[5, 10])
    row = summary[(summary.method == "DiLM (released)") & (summary.learner == "bert-base-uncased") & (summary.dpc == 5)].iloc[0]
    assert row["n"] == 3 and round(row["mean"], 4) == 73.0 and round(row["std"], 4) == round(pd.Series([72.0, 73.0, 74.0]).std(ddof=0), 4)
    assert row["best"] and row["p_vs_random"] < 0.05  # clearly above Random
    from scipy.stats import ttest_ind

    random = records[(records.method == "random") & (records.dpc == 5) & (records.learner == "bert-base-uncased")]
    dilm = records[(records.method == "DiLM (released)") & (records.dpc == 5) & (records.learner == "bert-base-uncased")]
    expected_p = ttest_ind(dilm["metric.accuracy"], random["metric.accuracy"], equal_var=False).pvalue
    assert row["p_vs_random"] == pytest.approx(expected_p)
    kmeans = summary[(summary.method == "kmeans-centers") & (summary.learner == "bert-base-uncased") & (summary.dpc == 5)].iloc[0]
    assert kmeans["mixed_versions"]  # one of its runs came from another code version
    full = summary[(summary.method == "full") & (summary.status == "ok")]
    assert set(full.dpc) == {5, 10} and (full["n"] == 2).all()


def test_load_records_is_one_row_per_run_with_flat_config():
    records = load_records(FIXTURES)
    assert len(records) == 64 - 10 - 2  # evaluate records minus fit/distill records and the failed cells
    for column in ("task", "method", "method_params", "dpc", "set_seed", "learner", "eval_seed",
                   "metric.accuracy", "metric.macro_f1", "checksum.test", "code_version", "git_commit"):
        assert column in records.columns
    assert set(records["method"]) == {"full", "random", "herding", "kmeans-centers", "DiLM (released)"}


def test_empty_runs_folder_gives_an_empty_report(tmp_path):
    (tmp_path / "evaluate").mkdir()
    assert build_report(tmp_path).tables == []


def test_plots_are_written(tmp_path):
    write_report(FIXTURES, tmp_path, dpcs=[5, 10])
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["accuracy_vs_cost.pdf", "accuracy_vs_cost.png", "accuracy_vs_dpc_sst2.pdf",
                     "accuracy_vs_dpc_sst2.png", "cross_architecture_sst2.pdf", "cross_architecture_sst2.png"]
    assert all((tmp_path / "plots" / n).stat().st_size > 1000 for n in names)


def test_plots_name_reference_rows_as_the_tables_do_and_mark_them(tmp_path, monkeypatch):
    """A plot is a claim like a table: the Full dataset and Random carry their table labels and say they are
    reference rows, in every plot's legend or axis; the other methods keep their names."""
    from benchmark.report import plots

    texts = {}

    def keep_texts(fig, directory, name):
        ax = fig.axes[0] if name == "cross_architecture_sst2" else fig.axes[-1]
        legend = ax.get_legend()
        texts[name] = ([t.get_text() for t in ax.get_yticklabels()] if name == "cross_architecture_sst2"
                       else [t.get_text() for t in legend.get_texts()])
        return []

    monkeypatch.setattr(plots, "_save", keep_texts)
    write_report(FIXTURES, tmp_path, dpcs=[5, 10])
    assert set(texts) == {"accuracy_vs_dpc_sst2", "cross_architecture_sst2", "accuracy_vs_cost"}
    for name, labels in texts.items():
        assert "Random (reference)" in labels and "random" not in labels, (name, labels)
        assert "herding" in labels and not any(label.startswith("herding (") for label in labels), (name, labels)
    assert "Full dataset (reference)" in texts["accuracy_vs_dpc_sst2"] + texts["cross_architecture_sst2"]


def test_a_full_data_study_read_without_its_grid_has_a_no_dpc_column_and_no_dpc_plot(tmp_path):
    """The Full-dataset runs of the fixtures alone (no set has a DPC), reported without a grid: one "(no DPC)"
    column per task with their numbers, a cross-architecture heatmap, no accuracy-vs-DPC plot; and the plots an
    earlier report of the same folder made that this one does not are removed."""
    import shutil

    runs = tmp_path / "runs"
    for stage in ("fit", "distill", "evaluate"):
        for cell in (FIXTURES / stage).glob("sst2.full.*"):
            shutil.copytree(cell, runs / stage / cell.name)
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "accuracy_vs_dpc_sst2.png").write_bytes(b"an earlier report's plot")
    markdown = write_report(runs, out)
    bert = markdown.split("### Learner: bert-base-uncased")[1].split("###")[0]
    assert "| method | sst2 (no DPC) |" in bert and "| Full dataset | 91.5 ± 0.5 (1×2) |" in bert
    assert "### Cross-architecture: sst2, no DPC" in markdown and "DPC 0" not in markdown
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "accuracy_vs_cost.pdf", "accuracy_vs_cost.png", "cross_architecture_sst2.pdf", "cross_architecture_sst2.png"]


def test_the_fidelity_of_dpc_independent_sets_alone_has_columns_without_a_dpc():
    from benchmark.report.tables import fidelity_tables

    fidelity = pd.DataFrame([{"task": "t", "method": "Full dataset", "dpc": None, "on_label_share": 0.98,
                              "overlap_share": 0.001, "candidate_on_label_share": np.nan,
                              "judge_validation_accuracy": 0.786}])
    (table,) = fidelity_tables(fidelity)
    assert table.columns == ["on-label", "test overlap"]
    assert [c.text for c in table.blocks[0][1][0][1]] == ["98%", "0.1%"]


def test_metrics_include_the_qqp_score_for_two_classes():
    import numpy as np

    from benchmark.core.metrics import compute_metrics

    m = compute_metrics(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]), 2)
    assert m["accuracy"] == 0.75 and m["f1"] == pytest.approx(2 / 3) and m["acc_and_f1"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert "acc_and_f1" not in compute_metrics(np.array([0, 1, 2]), np.array([0, 1, 2]), 3)


def test_report_of_a_runs_folder_marks_embedding_level_pairs_not_applicable():
    """Without its grid, `report` still knows that a tdd set cannot train TF-IDF (n/a), while MiniLM can."""
    import pandas as pd

    from benchmark.report.statistics import expected_from_records

    from benchmark.study.describe import describe

    rows = []
    for m in ("random", "tdd"):
        for lr in ("minilm", "tfidf-logreg"):
            config = {"method": {"name": m, "params": {}}, "learner": {"name": lr, "params": {}}}
            method, learner = describe(config)["method"], describe(config)["learner"]
            rows.append({"task": "rt-polarity", "method": method["label"], "method_kind": method["kind"],
                         "method_space": method["embedding_space"], "learner": learner["label"],
                         "learner_accepts": tuple(learner["accepts"]), "learner_space": learner["embedding_space"],
                         "dpc": 5, "described": True})
    expected = expected_from_records(pd.DataFrame(rows))
    assert expected.cells == {("rt-polarity", "tfidf-logreg", "tdd", 5): "n/a"}
    assert expected_from_records(pd.DataFrame(rows).assign(described=False)).cells == {}  # schema-1 records: no claim


def test_an_unchanged_runs_folder_keeps_its_leaderboard_and_a_changed_one_rebuilds_it(tmp_path, monkeypatch):
    """The warm path of ``run``: nothing read has changed -> no file rewritten (plots included); a record touched,
    or the code at another commit -> rebuilt. With uncommitted code changes it always rebuilds."""
    import shutil

    from benchmark.core import provenance

    runs, out = tmp_path / "runs", tmp_path / "out"
    shutil.copytree(FIXTURES, runs)
    commit = {"commit": "a" * 40, "dirty": False}
    monkeypatch.setattr(provenance, "git_state", lambda: dict(commit))
    first = write_report(runs, out, dpcs=[5, 10])
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert out / "plots" / "accuracy_vs_cost.png" in written and (out / ".inputs.sha256").is_file()
    assert write_report(runs, out, dpcs=[5, 10]) == first
    assert {p: p.stat().st_mtime_ns for p in written} == written

    record = next(runs.glob("evaluate/*/record.json"))
    os.utime(record, ns=(record.stat().st_atime_ns, record.stat().st_mtime_ns + 10**9))
    write_report(runs, out, dpcs=[5, 10])
    assert (out / "leaderboard.md").stat().st_mtime_ns > written[out / "leaderboard.md"]

    for state in ({"commit": "b" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": True}):
        commit.update(state)
        before = (out / "leaderboard.md").stat().st_mtime_ns
        write_report(runs, out, dpcs=[5, 10])
        assert (out / "leaderboard.md").stat().st_mtime_ns > before
    assert not (out / ".inputs.sha256").exists()


def test_report_runs_where_torch_cannot_be_imported(tmp_path):
    """The report reads records only: in a process whose import of torch or transformers fails, `report` still
    writes the leaderboard."""
    import subprocess
    import sys

    script = ("import importlib.abc, runpy, sys\n"
              "class Block(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path, target=None):\n"
              "        if name.split('.')[0] in ('torch', 'transformers'):\n"
              "            raise ImportError('blocked: ' + name)\n"
              "sys.meta_path.insert(0, Block())\n"
              f"sys.argv = ['benchmark', 'report', {str(FIXTURES)!r}, '--out', {str(tmp_path)!r}]\n"
              "runpy.run_module('benchmark', run_name='__main__')\n")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| DiLM (released) |" in (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "blocked" not in done.stderr


def hand_made(rows) -> pd.DataFrame:
    """Evaluate records as load_records returns them: (method, dpc or None, set_seed, accuracy in [0, 1]), or with the
    fit seed last (a seeded method's n_fits)."""
    return pd.DataFrame([{"task": "t", "learner": "tfidf-logreg", "method": method, "dpc": dpc, "set_seed": seed,
                          "fit_seed": fit[0] if fit else 0,
                          "metric": "accuracy", "metric.accuracy": accuracy, "reference": method in ("random", "full"),
                          "method_name": method, "baseline": method == "random", "upper_bound": method == "full",
                          "code_version": "v", "learner_family": "non-neural", "queries_cut": 0, "method_kind": "text"}
                         for method, dpc, seed, accuracy, *fit in rows])


def test_significance_is_tested_on_per_set_means_against_scipy():
    from scipy.stats import ttest_ind

    method = {0: [0.70, 0.72], 1: [0.66, 0.64], 2: [0.69, 0.69]}  # 3 sets x 2 runs
    random = {0: [0.60, 0.61], 1: [0.65, 0.63], 2: [0.58, 0.60], 3: [0.62, 0.62]}
    records = hand_made([("m", 5, s, a) for s, runs in method.items() for a in runs]
                        + [("random", 5, s, a) for s, runs in random.items() for a in runs])
    row = summarise(records).set_index("method").loc["m"]
    means = lambda sets: [100 * np.mean(runs) for runs in sets.values()]  # noqa: E731
    assert row["p_vs_random"] == pytest.approx(ttest_ind(means(method), means(random), equal_var=False).pvalue)
    assert (row["n"], row["n_sets"]) == (6, 3)
    assert row["ci_low"] < np.mean(means(method)) < row["ci_high"]


def test_the_baseline_and_upper_bound_come_from_the_records_flags_or_the_grid():
    """Rows are tested against the row flagged ``baseline`` and the ``upper_bound`` row is never best, whatever their
    names; a grid's named baseline wins over the flag; rows without flags (older records) get the roles by name."""
    rows = [("m", 5, s, a) for s, a in enumerate((0.70, 0.72, 0.71))] + [("b", 5, s, a) for s, a in
                                                                         enumerate((0.60, 0.61, 0.62))]
    rows += [("u", 5, 0, a) for a in (0.90, 0.91, 0.92)]
    records = hand_made(rows).assign(baseline=lambda f: f["method"] == "b", upper_bound=lambda f: f["method"] == "u")
    summary = summarise(records).set_index("method")
    assert summary.loc["m", "p_vs_random"] < 0.05 and summary.loc["m", "best"] and not summary.loc["u", "best"]
    assert np.isnan(summary.loc["u", "p_vs_random"]) and np.isnan(summary.loc["b", "p_vs_random"])
    named = summarise(records, expected=Expected(baseline="m")).set_index("method")
    assert named.loc["b", "p_vs_random"] < 0.05 and np.isnan(named.loc["m", "p_vs_random"])
    old = hand_made(rows + [("random", 5, s, a) for s, a in enumerate((0.60, 0.61, 0.62))]).assign(
        baseline=None, upper_bound=None)
    assert summarise(old).set_index("method")["_baseline"].to_dict() == {"b": False, "m": False, "random": True,
                                                                         "u": False}


def test_repeating_the_runs_of_a_set_does_not_make_it_significant():
    """Two sets with 5 identical runs each: pooled as 10 runs, Welch would call them different from Random
    (p < 0.05); over the 2 sets they are not."""
    from scipy.stats import ttest_ind

    rows = [("m", 5, s, a) for s, a in ((0, 0.70), (1, 0.62)) for _ in range(5)]
    rows += [("random", 5, s, a) for s, a in ((0, 0.60), (1, 0.64)) for _ in range(5)]
    pooled = ttest_ind([100 * a for m, _, _, a in rows if m == "m"], [100 * a for m, _, _, a in rows if m == "random"],
                       equal_var=False).pvalue
    row = summarise(hand_made(rows)).set_index("method").loc["m"]
    assert pooled < 0.05 and row["p_vs_random"] > 0.05 and row["n_sets"] == 2
    one_set = summarise(hand_made([("h", 5, 0, a) for a in (0.70, 0.71, 0.69)]  # deterministic: over its runs
                                  + [("random", 5, s, a) for s, a in enumerate((0.60, 0.62, 0.61))]))
    assert one_set.set_index("method").loc["h", "p_vs_random"] < 0.05


def test_the_significance_mark_says_whether_a_row_is_above_or_below_random_in_every_format(tmp_path):
    """A row significantly above Random reads ▲, one significantly below ▼ (K-centers at DPC 5 on trec6 was once
    starred for being worse than Random), one within noise nothing: in markdown, LaTeX (amssymb) and the HTML page,
    with the legend under the tables."""
    from benchmark.report.html import write_site
    from benchmark.report.leaderboard import Report
    from benchmark.report.notes import footnotes
    from benchmark.report.render import render_latex, render_markdown
    from benchmark.report.tables import main_tables

    rows = [("up", 5, s, a) for s, a in enumerate((0.70, 0.72, 0.71))]
    rows += [("down", 5, s, a) for s, a in enumerate((0.40, 0.41, 0.42))]
    rows += [("same", 5, s, a) for s, a in enumerate((0.58, 0.63, 0.60))]
    rows += [("random", 5, s, a) for s, a in enumerate((0.60, 0.61, 0.62))]
    summary = summarise(hand_made(rows))
    by_method = summary.set_index("method")
    assert by_method.loc["up", "p_vs_random"] < 0.05 and by_method.loc["down", "p_vs_random"] < 0.05
    assert by_method.loc["same", "p_vs_random"] > 0.05
    tables, notes = main_tables(summary), footnotes(summary, [])
    markdown, latex = render_markdown(tables, notes), render_latex(tables, notes)
    assert "| up | **71.0 ± 0.8 (3×1)**▲† |" in markdown and "| down | 41.0 ± 0.8 (3×1)▼ |" in markdown
    assert "| same | 60.3 ± 2.1 (3×1) |" in markdown and "\\*" not in markdown
    assert "▲ significantly above Random, ▼ significantly below it (Welch's two-sided t-test, p < 0.05)" in markdown
    assert r"up & \textbf{71.0 $\pm$ 0.8 (3×1)}$^{\blacktriangle\dag}$ \\" in latex
    assert r"down & 41.0 $\pm$ 0.8 (3×1)$^{\blacktriangledown}$ \\" in latex
    assert r"\usepackage{amssymb}" in latex.splitlines()[0]
    html = write_site(Report(summary, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), tables, notes),
                      tmp_path / "runs", tmp_path / "site").read_text(encoding="utf-8")
    assert "41.0 ± 0.8 (3×1)<sup>▼</sup>" in html and "<strong>71.0 ± 0.8 (3×1)</strong><sup>▲†</sup>" in html
    assert "▲ significantly above Random, ▼ significantly below it" in html


def test_a_row_alone_beside_the_full_dataset_is_not_bold():
    """A Full-vs-Random study has one competing row per column: bolding Random there would call it the winner of a
    race it ran alone. With a second method in the column, the best is bold again and tested against the other."""
    from benchmark.report.tables import _cell

    rows = [("full", 5, 0, a) for a in (0.95, 0.96)] + [("random", 5, s, a) for s, a in enumerate((0.5, 0.6, 0.55))]
    alone = summarise(hand_made(rows))
    assert not alone["best"].any() and alone["p_vs_runner_up"].isna().all()
    assert not _cell(alone[alone["method"] == "random"].iloc[0]).bold
    rows += [("m", 5, s, a) for s, a in enumerate((0.70, 0.72, 0.71))]
    raced = summarise(hand_made(rows)).set_index("method")
    assert list(raced.index[raced["best"]]) == ["m"] and raced.loc["m", "p_vs_runner_up"] < 0.05
    assert not raced.loc["full", "best"]


def test_few_units_get_a_t_interval_and_many_a_bootstrap_inside_their_range():
    """Two per-fit means bootstrap to their own min and max, an interval that claims far too much: below 5 units the
    interval is Student's t (scipy); from 5 units, the percentile bootstrap."""
    from scipy.stats import sem, t

    from benchmark.report.statistics import bootstrap_ci

    two = np.array([50.8, 58.3])
    low, high = t.interval(0.95, 1, loc=two.mean(), scale=sem(two))
    assert bootstrap_ci(two) == pytest.approx({"ci_low": low, "ci_high": high})
    assert high - low > 10 * np.ptp(two)
    many = np.array([56.0, 58.5, 54.2, 57.7, 55.1, 59.0])
    ci = bootstrap_ci(many)
    assert many.min() <= ci["ci_low"] < many.mean() < ci["ci_high"] <= many.max()
    assert bootstrap_ci(np.array([60.0, 60.0])) == {"ci_low": 60.0, "ci_high": 60.0}


def test_a_method_with_several_fits_is_tested_on_per_fit_means():
    """3 fits x 2 sets (the same set seeds in every fit): the unit is the fit, the mean of its sets' means
    (n = 3 against Random's 4 sets), and the cell says how many fits, sets and runs it holds."""
    from scipy.stats import ttest_ind

    from benchmark.report.notes import footnotes
    from benchmark.report.tables import _cell

    method = {0: {0: 0.70, 1: 0.66}, 1: {0: 0.58, 1: 0.62}, 2: {0: 0.69, 1: 0.73}}  # fit -> set -> accuracy
    random = {0: 0.60, 1: 0.63, 2: 0.58, 3: 0.62}
    rows = [("m", 5, s, a, f) for f, sets in method.items() for s, a in sets.items()]
    rows += [("random", 5, s, a) for s, a in random.items()]
    summary = summarise(hand_made(rows))
    row = summary.set_index("method").loc["m"]
    fit_means = [100 * np.mean(list(sets.values())) for sets in method.values()]
    assert row["p_vs_random"] == pytest.approx(ttest_ind(fit_means, [100 * a for a in random.values()],
                                                         equal_var=False).pvalue)
    assert (row["n"], row["n_sets"], row["n_fits"]) == (6, 6, 3)
    cells = {r["method"]: _cell(r).text for _, r in summary.iterrows()}
    assert cells["m"].endswith("(3 fits: 6×1)") and cells["random"].endswith("(4×1)")
    assert "its unit is the fit" in " ".join(footnotes(summary, []))
    assert "its unit is the fit" not in " ".join(footnotes(summarise(hand_made(rows[-4:] + rows[:2])), []))


def test_a_cell_with_fewer_fits_than_its_method_has_elsewhere_is_still_tested_per_fit():
    """DPC 5 has 3 fits, DPC 10 only fit 0 (10 sets): DPC 10's sets share one generator, so it is one unit, no test
    (per set, 10 sets well above Random's would be "significant"), and says "1 of 3 fits"; a grid asking for 2 fits
    does the same to a method whose every cell has one fit."""
    from benchmark.report.notes import footnotes
    from benchmark.report.statistics import Expected
    from benchmark.report.tables import _cell

    rows = [("m", 5, s, a, f) for f, base in enumerate((0.70, 0.58, 0.69)) for s, a in enumerate((base, base + 0.02))]
    rows += [("m", 10, s, 0.75 + 0.001 * s, 0) for s in range(10)]
    rows += [("random", d, s, 0.60 + 0.01 * (s % 3)) for d in (5, 10) for s in range(4)]
    summary = summarise(hand_made(rows))
    row = summary[(summary["method"] == "m") & (summary["dpc"] == 10)].iloc[0]
    assert (row["n_sets"], row["n_fits"], row["fits_asked"]) == (10, 1, 3)
    assert np.isnan(row["p_vs_random"]) and np.isnan(row["ci_low"])
    per_set = summarise(hand_made([r for r in rows if r[1] == 10])).set_index("method").loc["m"]
    assert per_set["p_vs_random"] < 0.05  # the same cell alone, read per set
    assert _cell(row).text.endswith("(1 of 3 fits: 10×1)") and not set("▲▼") & set(_cell(row).marks)
    assert "only K of the N fits" in " ".join(footnotes(summary, []))

    one_fit = hand_made([r for r in rows if r[1] == 10])
    asked = summarise(one_fit, expected=Expected(fits={("t", "m"): 2})).query("method == 'm'").iloc[0]
    assert np.isnan(asked["p_vs_random"]) and _cell(asked).text.endswith("(1 of 2 fits: 10×1)")


def test_published_rows_only_under_the_learner_that_measured_them(tmp_path):
    markdown = write_report(FIXTURES, tmp_path, dpcs=[5, 10], expected=fixture_expected(), plots=False)
    tables = {part.split("\n")[0]: part for part in markdown.split("### ")[1:]}
    assert "published: Maekawa" in tables["Learner: bert-base-uncased"]
    assert all("published" not in text for title, text in tables.items() if title != "Learner: bert-base-uncased")


def test_a_full_data_study_labels_its_columns_without_a_dpc():
    from benchmark.report.tables import main_tables

    records = hand_made([("full", None, 0, a) for a in (0.80, 0.82)])
    tables = main_tables(summarise(records, dpcs=[5, 10, 20]))
    assert tables[0].columns == ["t (no DPC)"]
    mixed = main_tables(summarise(pd.concat([records, hand_made([("random", 5, 0, 0.6)])]), dpcs=[5]))
    assert mixed[0].columns == ["t DPC 5"]


def test_a_shared_build_that_was_not_timed_makes_the_full_cost_a_lower_bound(tmp_path):
    """Embeddings built before builds were timed (``build_s`` None in the users' records): both users' full costs say
    so (untimed_builds, and "≥" in the cost table) instead of passing the unknown off as zero seconds."""
    import json
    import shutil

    from benchmark.report.records import load_costs
    from benchmark.report.tables import cost_table

    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES, runs)
    for record_path in (runs / "fit").glob("*/record.json"):
        record = json.loads(record_path.read_text())
        for artifact in record.get("artifacts", []):
            artifact["build_s"] = None
        record_path.write_text(json.dumps(record))
    costs = load_costs(runs).set_index("method")
    assert costs.loc["herding", "untimed_builds"] == costs.loc["kmeans-centers", "untimed_builds"] == 1
    assert costs.loc["random", "untimed_builds"] == 0
    assert costs.loc["kmeans-centers", "full_s"] == pytest.approx(0.05 + 0.505)  # its own fit and set only
    table = cost_table(costs.reset_index())
    shown = {label: [cell.text for cell in cells] for label, cells in table.blocks[0][1]}
    assert shown["sst2: kmeans-centers"][2].startswith("≥ ") and not shown["sst2: random"][2].startswith("≥")
    assert "not timed" in table.title
    timed = cost_table(load_costs(FIXTURES))
    assert "not timed" not in timed.title


def test_the_footnote_names_the_split_the_numbers_score():
    """A study scored on the validation split (choosing settings) must not call its numbers test accuracy (the golden
    files show the test-split wording)."""
    import pandas as pd

    from benchmark.report.notes import _scored_split

    assert _scored_split(pd.DataFrame({"task": ["rt-polarity", "sst2"]})) == "Test-split"
    assert _scored_split(pd.DataFrame({"task": ["rt-polarity (validation)"]})) == "Validation-split"
    assert _scored_split(pd.DataFrame({"task": ["rt-polarity (validation)", "sst2"]})).startswith(
        "Test-split (validation-split for the tasks named so)")


def test_the_fidelity_table_shows_the_candidates_column_only_where_sets_kept_their_pools():
    from benchmark.report.tables import fidelity_tables

    def rows(method, on_label, pooled):
        return [{"task": "rt-polarity", "method": method, "dpc": 5, "set_seed": s, "on_label_share": on_label[s],
                 "overlap_share": 0.0, "candidate_on_label_share": pooled[s], "judge_validation_accuracy": 0.786}
                for s in range(2)]

    sets = pd.DataFrame(rows("Random", [1.0, 0.9], [np.nan, np.nan]) + rows("dilm", [0.6, 0.5], [0.52, 0.5]))
    table = fidelity_tables(sets)[0]
    assert table.columns == ["DPC 5 on-label", "DPC 5 test overlap", "DPC 5 candidates on-label"]
    shown = {method: [c.text for c in cells] for method, cells in table.blocks[0][1]}
    assert shown == {"Random": ["95%", "0.0%", "-"], "dilm": ["55%", "0.0%", "51%"]}
    without = fidelity_tables(sets.assign(candidate_on_label_share=np.nan))[0]
    assert without.columns == ["DPC 5 on-label", "DPC 5 test overlap"]


def test_a_learner_whose_full_dataset_scores_no_higher_than_random_is_named_in_a_warning():
    from benchmark.report.notes import full_not_above_random
    from benchmark.report.statistics import NO_DPC

    rows = [("t", "tfidf-logreg", "full", 5, "ok", 27.8), ("t", "tfidf-logreg", "random", 5, "ok", 28.5),
            ("t", "tfidf-logreg", "full", 20, "ok", 27.8), ("t", "tfidf-logreg", "random", 20, "ok", 26.0),
            ("t", "bow-ngrams", "full", 5, "ok", 51.6), ("t", "bow-ngrams", "random", 5, "ok", 17.9),
            ("t", "minilm", "full", 5, "ok", 10.0), ("t", "minilm", "random", 5, "fail", np.nan),
            ("u", "bow-ngrams", "full", NO_DPC, "ok", 40.0), ("u", "bow-ngrams", "random", NO_DPC, "ok", 40.0)]
    summary = pd.DataFrame(rows, columns=["task", "learner", "method", "dpc", "status", "mean"])
    summary = summary.assign(_upper_bound=summary["method"] == "full", _baseline=summary["method"] == "random")
    warning = full_not_above_random(summary)
    assert "tfidf-logreg on t: Full 27.8 vs Random 28.5 at DPC 5" in warning
    assert "DPC 20" not in warning and "bow-ngrams on t" not in warning and "minilm" not in warning  # above / no pair
    assert "bow-ngrams on u: Full 40.0 vs Random 40.0)" in warning  # a tie counts; no DPC named for a DPC-free column
    assert full_not_above_random(summary[summary["learner"] == "bow-ngrams"].iloc[:2]) is None


def test_macro_f1_counts_the_classes_the_test_labels_or_predictions_hold():
    """A rare class with no test example that nothing predicts is left out; one that is predicted though absent
    from the test labels counts (F1 0), as does one the test labels hold that is never predicted."""
    from benchmark.core.metrics import compute_metrics

    labels, predictions = np.array([0, 0, 1, 1, 2]), np.array([0, 0, 1, 0, 2])
    f1 = {0: 2 * 2 / (2 * 2 + 1), 1: 2 / 3, 2: 1.0}  # 2TP / (2TP + FP + FN) per class
    assert compute_metrics(labels, predictions, 5)["macro_f1"] == pytest.approx(sum(f1.values()) / 3)  # 3, 4: absent
    assert compute_metrics(labels, np.array([0, 0, 1, 4, 2]), 5)["macro_f1"] == pytest.approx(
        (1.0 + 2 / 3 + 1.0 + 0.0) / 4)  # class 4 predicted once, never true
    assert compute_metrics(labels, np.array([0, 0, 0, 0, 2]), 3)["macro_f1"] == pytest.approx(
        (2 * 2 / (2 * 2 + 2) + 0.0 + 1.0) / 3)  # class 1 true twice, never predicted


def test_comparisons_test_every_pair_of_a_column_on_its_units_against_scipy(tmp_path):
    """comparisons.csv: each pair of rows in a column once, the higher mean first, Welch's p over per-set means (a
    seeded method with 2 fits: over its 2 per-fit means), the Random pair equal to p_vs_random; written by the report."""
    from scipy.stats import ttest_ind

    from benchmark.report.statistics import comparisons

    dilm = {(0, 0): 0.66, (0, 1): 0.67, (1, 0): 0.60, (1, 1): 0.59}  # (fit, set) -> accuracy
    kcenters, random = (0.63, 0.64, 0.65), (0.55, 0.60, 0.65)
    rows = [("dilm", 20, s, a, f) for (f, s), a in dilm.items()]
    rows += [("kmeans-centers", 20, s, a) for s, a in enumerate(kcenters)]
    rows += [("random", 20, s, a) for s, a in enumerate(random)]
    summary = summarise(hand_made(rows), samples=True)
    pairs = comparisons(summary)
    assert [(a, b) for a, b in zip(pairs["method_a"], pairs["method_b"])] == [
        ("kmeans-centers", "dilm"), ("kmeans-centers", "random"), ("dilm", "random")]
    fit_means = [66.5, 59.5]
    pair = pairs.set_index(["method_a", "method_b"])
    assert pair.loc[("kmeans-centers", "dilm"), "p_welch"] == pytest.approx(
        ttest_ind([100 * a for a in kcenters], fit_means, equal_var=False).pvalue)
    assert (pair.loc[("kmeans-centers", "dilm"), "units_a"], pair.loc[("kmeans-centers", "dilm"), "units_b"]) == (3, 2)
    assert pair.loc[("kmeans-centers", "dilm"), "difference"] == pytest.approx(64.0 - 63.0)
    assert pair.loc[("dilm", "random"), "p_welch"] == pytest.approx(
        summary.set_index("method").loc["dilm", "p_vs_random"])
    assert "_sample" not in summarise(hand_made(rows)).columns


def test_a_grid_names_the_baseline_every_row_is_tested_against(tmp_path):
    """``baseline: herding`` in a grid: the report's expected cells carry its label; a name that is not one of the
    grid's methods is refused before anything runs."""
    from benchmark import api
    from benchmark.core.errors import UsageError

    spec = "name: b\ntasks: [rt-polarity]\ndpcs: [2]\nmethods: [random, herding]\nlearners: [tfidf-logreg]\n"
    (tmp_path / "grid.yaml").write_text(spec + "baseline: herding\n")
    grid = api.open_grid(str(tmp_path / "grid.yaml"), load_data=False)
    assert api.expected_cells(grid).baseline == "herding"
    (tmp_path / "grid.yaml").write_text(spec)
    assert api.expected_cells(api.open_grid(str(tmp_path / "grid.yaml"), load_data=False)).baseline is None
    (tmp_path / "grid.yaml").write_text(spec + "baseline: full\n")
    with pytest.raises(UsageError, match="baseline 'full' must name one of the grid's methods"):
        api.open_grid(str(tmp_path / "grid.yaml"), load_data=False)


HOSTILE = "a|b\n\\input{evil.tex}%_&#{}`$~^*<x>"


def test_a_hostile_task_or_method_name_neither_breaks_the_markdown_nor_runs_latex(tmp_path):
    """The fixtures' task renamed, and a method relabelled, to a name holding a newline, ``\\input``, a pipe and
    every character markdown or LaTeX reads as markup: leaderboard.tex has no live ``\\input`` (nor a line the
    name starts), each markdown table row keeps its table's column count, and the name reads back as written."""
    import json
    import re
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES, runs)
    for path in runs.glob("*/*/*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["config"]["task"]["name"] = HOSTILE
        if record.get("described", {}).get("method", {}).get("label") == "herding":
            record["described"]["method"]["label"] = "m " + HOSTILE
        path.write_text(json.dumps(record), encoding="utf-8")
    write_report(runs, tmp_path / "out", dpcs=[5, 10], plots=False)
    tex = (tmp_path / "out" / "leaderboard.tex").read_text(encoding="utf-8")
    assert "evil" in tex
    for line in tex.splitlines():
        assert line.startswith("%") or "\\input" not in line.replace("\\textbackslash{}input", ""), line
    assert "\\textbackslash{}input\\{evil.tex\\}\\%\\_\\&\\#\\{\\}\\textasciigrave{}\\$\\textasciitilde{}\\^{}" in tex
    markdown = (tmp_path / "out" / "leaderboard.md").read_text(encoding="utf-8")
    escaped = "a\\|b \\\\input\\{evil.tex\\}%\\_\\&\\#\\{\\}\\`\\$\\~\\^\\*\\<x\\>"
    assert f"| m {escaped} |" in markdown and f"### Cross-architecture: {escaped}, DPC 5" in markdown
    tables = markdown.split("### ")[1:]
    assert len(tables) >= 3
    for table in tables:
        rows = [line for line in table.splitlines() if line.startswith("|")]
        pipes = {len(re.findall(r"(?<!\\)(?:\\\\)*\|", row)) for row in rows}  # pipes not escaped by a backslash
        assert len(rows) > 2 and len(pipes) == 1, table
    assert not any(line.startswith(("\\input", "%_", "{evil")) for line in markdown.splitlines())
