"""The leaderboard: every record -> DataFrames -> paper-ready tables (markdown, LaTeX, CSV) and plots.

Main table per learner: rows = methods (then the reference block: Full dataset, Random; then the
paper's published numbers where the task is one of the paper's), columns = task x DPC, cells =
mean ± population std (n). Best per column in bold; Welch's t-test against Random and against the
runner-up; failed, missing and not-applicable cells shown and counted; mixed code versions flagged.
``build_report`` joins the parts: ``records`` (reading), ``statistics``, ``tables`` and ``notes``; ``render``
writes them as text.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.core.provenance import shown
from benchmark.report.carried import carried_fidelity, with_carried
from benchmark.report.notes import footnotes, full_not_above_random
from benchmark.report.records import REFERENCE_LABELS, load_costs, load_failures, load_fidelity, load_records
from benchmark.report.statistics import Expected, comparisons, summarise
from benchmark.report.tables import Table, cost_table, cross_architecture_tables, fidelity_tables, main_tables


@dataclass
class Report:
    """Everything a report writes, in memory: the long-form summary, the runs, costs and fidelity frames (empty
    when there is nothing), the rendered tables and the notes under them."""

    summary: pd.DataFrame
    records: pd.DataFrame
    costs: pd.DataFrame
    fidelity: pd.DataFrame
    tables: list[Table]
    notes: list[str]
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # every pair of rows in a column, Welch's p


def build_report(runs_dir: Path, cell_ids: set[str] | None = None, dpcs: list[int] | None = None,
                 expected: Expected | None = None, judge_version: int | None = None,
                 carry: list[Path] = ()) -> Report:
    """The report of the runs in ``runs_dir`` (only ``cell_ids`` when given), with the grid's DPCs and cells, and
    the runs carried from the report folders in ``carry`` (``report.carried``); with the current ``judge_version``,
    a note counts the text sets an older judge measured."""
    local = load_records(runs_dir, cell_ids)
    records = with_carried(local, list(carry))
    carried = records[records["carried_from"].notna()] if "carried_from" in records else records[:0]
    failures = load_failures(runs_dir, cell_ids)
    if len(carried):  # a cell failed here and done elsewhere counts as done
        failures = failures[~failures["cell_id"].isin(set(carried["cell_id"]))]
    with_samples = summarise(records, failures, dpcs, expected, samples=True)
    summary = with_samples.drop(columns="_sample", errors="ignore")
    if summary.empty:
        return Report(summary, records, pd.DataFrame(), pd.DataFrame(), [], ["No finished or failed runs."])
    cited = [frame[["method_name", "citation"]] for frame in (records, failures) if not frame.empty]  # none: all missing
    citations = [f"{name}: {citation}" for name, citation in
                 sorted(set(pd.concat(cited).dropna().itertuples(index=False)))] if cited else []
    costs = load_costs(runs_dir, cell_ids, carried)
    costs = costs[costs["method"].isin(summary["method"])] if not costs.empty else costs
    fidelity = carried_fidelity(load_fidelity(runs_dir, cell_ids), list(carry))
    fidelity = fidelity[fidelity["method"].isin(set(summary["method"]) | set(REFERENCE_LABELS.values()))] \
        if not fidelity.empty else fidelity
    tables = main_tables(summary) + cross_architecture_tables(summary) + fidelity_tables(fidelity)
    if not costs.empty:
        tables.append(cost_table(costs))
    notes = footnotes(summary, citations)
    if warning := full_not_above_random(summary):
        notes.append(warning)
    if not records.empty and not records["described"].all():
        notes.append(f"{int((~records['described']).sum())} run(s) were recorded before records described their method "
                     "and learner (schema 1): their rows show plain names, without reference flags or n/a cells.")
    if len(carried):
        sources = ", ".join(sorted({shown(source) for source in carried["carried_from"]}))
        notes.append(f"{len(carried)} of the {len(records)} runs are carried from another report's runs.csv "
                     f"({sources}): their records are not in this runs folder; each row keeps its config, seeds, "
                     f"versions and commit (runs.csv, and the cell pages).")
    if records.attrs.get("damaged"):
        notes.append(f"Skipped {len(records.attrs['damaged'])} damaged record(s) (not whole JSON; `run` makes these "
                     f"cells again): " + ", ".join(records.attrs["damaged"]))
    if not fidelity.empty:
        notes.append("Fidelity: on-label = share of a set's texts that a TF-IDF + logistic-regression judge trained on "
                     "the train split assigns to the set's label (a train-split text, e.g. a coreset's, by a "
                     "judge trained without it: cross-fitting over 5 folds, fewer when a class has fewer train "
                     "texts, none when a class is too small to hold out); test overlap = share of its texts that "
                     "duplicate a test text (same words, token-set Jaccard >= 0.8, or a shared 8-word sequence)"
                     + ("; candidates on-label (generators) = the same judge on every candidate a set was selected "
                        "from: the generator's conditioning before selection"
                        if fidelity["candidate_on_label_share"].notna().any() else "")
                     + ". Per set in fidelity.csv (with distinct bigrams and mean pairwise TF-IDF distance).")
        stale = fidelity[fidelity["judge_version"] != judge_version] if judge_version is not None else fidelity[:0]
        if len(stale):
            notes.append(f"{len(stale)} of the {len(fidelity)} text sets were measured by another judge (version "
                         f"{', '.join(map(str, sorted(set(stale['judge_version']))))}; this code's: {judge_version}): "
                         f"`python -m benchmark judge {shlex.quote(str(runs_dir))}` measures them again.")
    return Report(summary, records, costs, fidelity, tables, notes, comparisons(with_samples))
