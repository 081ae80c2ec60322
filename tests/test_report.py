"""The leaderboard: mean and population std per cell, n, full repeated under every DPC, reference marks."""
import pandas as pd

from benchmark.report import leaderboard_tables, summarise


def records(rows):
    return pd.DataFrame([{"task": "t", "learner": "l", "method": m, "dpc": d, "metric": "accuracy",
                          "metric.accuracy": a} for m, d, a in rows])


def test_summary_uses_population_std_and_repeats_dpc_independent_rows():
    summary = summarise(records([("random", 5, 0.5), ("random", 5, 0.7), ("random", 10, 0.6),
                                 ("full", None, 0.9), ("full", None, 0.8)]))
    random5 = summary[(summary.method == "random") & (summary.dpc == 5)].iloc[0]
    assert round(random5["mean"], 6) == 60.0 and round(random5["std"], 6) == 10.0 and random5["n"] == 2
    full = summary[summary.method == "full"]
    assert sorted(full.dpc.tolist()) == [5, 10] and set(full["mean"].round(6)) == {85.0}


def test_tables_put_reference_rows_last_and_mark_missing_cells():
    summary = summarise(records([("random", 5, 0.5), ("full", None, 0.9), ("mine", 5, 0.6), ("mine", 10, 0.7),
                                 ("random", 10, 0.55)]))
    summary = summary[~((summary.method == "random") & (summary.dpc == 10))]
    table = leaderboard_tables(summary, {"full", "random"})["l"]
    assert table.index.tolist() == ["mine", "full (reference)", "random (reference)"]
    assert table.columns.tolist() == ["t DPC 5", "t DPC 10"]
    assert table.loc["mine", "t DPC 5"] == "60.0 ± 0.0 (1)"
    assert table.loc["random (reference)", "t DPC 10"] == "-"
