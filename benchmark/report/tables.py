"""The leaderboard's tables, before rendering: main per learner (methods, then the reference and published blocks),
cross-architecture per (task, DPC), fidelity per task and costs; each cell its text, bold and marks."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from benchmark.report.published import LEARNER as PUBLISHED_LEARNER
from benchmark.report.published import SOURCE as PUBLISHED_SOURCE
from benchmark.report.published import published
from benchmark.report.records import REFERENCE_LABELS
from benchmark.report.statistics import ALPHA


SIGNIFICANCE_MARKS = {True: "▲", False: "▼"}  # significantly above the baseline (Random), below it


@dataclass
class Cell:
    text: str
    bold: bool = False
    marks: str = ""
    value: float | None = None  # the number it shows (sorting the HTML table); None for "-", "fail", "n/a"
    key: tuple | None = None  # (task, learner, method, dpc) of a measured cell: its page in the HTML report


def _cell(row) -> Cell:
    key = (row["task"], row["learner"], row["method"], int(row["dpc"]))
    if row["status"] != "ok":
        return Cell({"fail": "fail", "missing": "-", "n/a": "n/a (embedding-level)"}[row["status"]],
                    key=key if row["status"] == "fail" else None)
    marks = ""
    if row["p_vs_random"] < ALPHA:  # significantly above (▲) or below (▼) the baseline: the direction reads at a glance
        marks += SIGNIFICANCE_MARKS[row["_vs_random"] > 0]
    if row["best"] and row["p_vs_runner_up"] < ALPHA:
        marks += "†"
    if row["mixed_versions"]:
        marks += "‡"
    if row["n_failed"]:
        marks += "§"
    if row["queries_cut"]:
        marks += "¶"
    if "+" in row["precision"]:
        marks += "°"
    return Cell(f"{row['mean']:.1f} ± {row['std']:.1f} ({_replicates(row)})", bool(row["best"]), marks,
                float(row["mean"]), key)


def _replicates(row) -> str:
    """``sets×runs`` when every set has the same number of learner runs, else ``N sets, M runs``; led by
    ``N fits:`` when the sets come from more than one fit, ``K of N fits:`` when fewer fits than asked have run."""
    sets, runs, fits, asked = int(row["n_sets"]), int(row["n"]), int(row["n_fits"]), int(row["fits_asked"])
    shown = f"{sets}×{runs // sets}" if sets and runs % sets == 0 else f"{sets} sets, {runs} runs"
    if fits < asked:
        return f"{fits} of {asked} fits: {shown}"
    return f"{fits} fits: {shown}" if fits > 1 else shown


@dataclass
class Table:
    """A table ready to render: a title, column labels and blocks of (row label, cells)."""

    title: str
    columns: list[str]
    blocks: list[tuple[str, list[tuple[str, list[Cell]]]]]
    column_keys: list[dict] = field(default_factory=list)  # per column: its task / dpc / learner (HTML filters)
    learner: str | None = None  # a main table's learner


def _method_blocks(part: pd.DataFrame, rows_for) -> list[tuple[str, list]]:
    """The methods' rows, then the reference block: the upper bound (Full dataset), the baseline (Random), then any
    other reference row, by label."""
    methods = sorted(part.loc[~part["reference"] & ~part["_baseline"] & ~part["_upper_bound"], "method"].unique())
    upper, baseline = (sorted(set(part.loc[part[role], "method"])) for role in ("_upper_bound", "_baseline"))
    references = upper + baseline + sorted(set(part.loc[part["reference"], "method"]) - set(upper) - set(baseline))
    blocks = [("", rows_for(methods))] if methods else []
    if references:
        blocks.append(("reference rows", [(REFERENCE_LABELS.get(m, m), cells) for m, cells in rows_for(references)]))
    return blocks


def main_tables(summary: pd.DataFrame) -> list[Table]:
    tables = []
    families = learner_families(summary)
    for learner, part in sorted(summary.groupby("learner"), key=lambda item: (families.get(item[0]) == "icl", item[0])):
        columns = _distinct_columns(part)
        by_key = {(r["method"], r["task"], r["dpc"]): r for _, r in part.iterrows()}

        def rows_for(methods):
            return [(m, [_cell(by_key[(m, t, d)]) if (m, t, d) in by_key else Cell("-") for t, d in columns])
                    for m in methods]

        blocks = _method_blocks(part, rows_for)
        paper = sorted({row for t, d in columns for row in published(t, d)},
                       key=lambda r: list(["Random", "K-centers", "Herding", "Vanilla LM", "DiLM", "Full dataset"]).index(r))
        if paper and learner == PUBLISHED_LEARNER:  # the paper's numbers, beside the learner that measured them
            blocks.append((f"published: {PUBLISHED_SOURCE}", [
                (name, [_published_cell(published(t, d).get(name)) for t, d in columns]) for name in paper]))
        title = f"In-context learning: {learner}" if families.get(learner) == "icl" else f"Learner: {learner}"
        independent = _independent_columns(part)
        tables.append(Table(title, [f"{t} (no DPC)" if (t, d) in independent else f"{t} DPC {d}" for t, d in columns],
                            blocks, [{"task": t, "dpc": int(d)} for t, d in columns], learner))
    return tables


def _independent_columns(part: pd.DataFrame) -> set[tuple]:
    """(task, DPC) columns whose measured rows are all DPC-independent (the Full dataset): they have no DPC."""
    measured = part[part["status"] == "ok"]
    return {key for key, rows in measured.groupby(["task", "dpc"]) if rows["dpc_independent"].all()}


def _distinct_columns(part: pd.DataFrame) -> list[tuple]:
    """The table's (task, DPC) columns; a task whose every column is DPC-independent keeps one (the same numbers
    repeated under each DPC say nothing)."""
    columns = sorted(set(zip(part["task"], part["dpc"])))
    independent = _independent_columns(part)
    kept, seen = [], set()
    for task, dpc in columns:
        if all((task, d) in independent for t, d in columns if t == task):
            if task in seen:
                continue
            seen.add(task)
        kept.append((task, dpc))
    return kept


def learner_families(summary: pd.DataFrame) -> dict[str, str]:
    """learner label -> family ("fine-tuned", "non-neural", "icl"): in-context learners get their own tables."""
    return summary.dropna(subset=["learner_family"]).groupby("learner")["learner_family"].first().to_dict()


def _published_cell(value) -> Cell:
    if value is None:
        return Cell("-")
    mean, std = value
    return Cell(f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}", value=float(mean))


def cross_architecture_tables(summary: pd.DataFrame) -> list[Table]:
    """Per (task, DPC) with two or more learners that train: rows = distillation source (method), columns =
    learners (in-context learners have their own tables)."""
    tables = []
    families = learner_families(summary)
    trained = summary[summary["learner"].map(lambda name: families.get(name) != "icl")]
    for (task, dpc), part in trained.groupby(["task", "dpc"]):
        learners = sorted(part["learner"].unique())
        if len(learners) < 2:
            continue
        by_key = {(r["method"], r["learner"]): r for _, r in part.iterrows()}

        def rows_for(methods):
            return [(m, [_cell(by_key[(m, l)]) if (m, l) in by_key else Cell("-") for l in learners]) for m in methods]

        where = "no DPC" if (task, dpc) in _independent_columns(part) else f"DPC {dpc}"
        tables.append(Table(f"Cross-architecture: {task}, {where}", learners, _method_blocks(part, rows_for),
                            [{"task": task, "dpc": int(dpc), "learner": learner} for learner in learners]))
    return tables


def fidelity_tables(fidelity: pd.DataFrame) -> list[Table]:
    """Per task: rows = methods, per DPC the mean on-label share (%) and the share of texts overlapping the test
    split (%), over the cell's sets; where sets kept their candidate pools, the pools' on-label share too."""
    tables = []
    for task, part in (fidelity.groupby("task") if not fidelity.empty else ()):
        dpcs = sorted({int(d) for d in part["dpc"] if pd.notna(d)}) or [None]  # None: DPC-independent sets only
        pooled = part["candidate_on_label_share"].notna().any()  # some sets kept the candidates they came from
        measures = ["on-label", "test overlap"] + (["candidates on-label"] if pooled else [])
        columns = [what if d is None else f"DPC {d} {what}" for d in dpcs for what in measures]
        rows = []
        for method, rows_m in sorted(part.groupby("method")):
            cells = []
            for d in dpcs:
                at = rows_m if d is None else rows_m[(rows_m["dpc"] == d) | rows_m["dpc"].isna()]
                if not len(at):
                    cells += [Cell("-")] * len(measures)
                    continue
                cells += [Cell(f"{100 * at['on_label_share'].mean():.0f}%"),
                          Cell(f"{100 * at['overlap_share'].mean():.1f}%")]
                if pooled:
                    shares = at["candidate_on_label_share"].dropna()
                    cells.append(Cell(f"{100 * shares.mean():.0f}%" if len(shares) else "-"))
            rows.append((method, cells))
        judge = part["judge_validation_accuracy"].iloc[0]
        tables.append(Table(f"Fidelity of the text sets: {task} (judge: TF-IDF + logistic regression, "
                            f"{100 * judge:.1f}% on the validation split)", columns, [("", rows)],
                            [{"task": task, "dpc": d} for d in dpcs for _ in measures]))
    return tables


def cost_table(costs: pd.DataFrame) -> Table:
    gpu = bool(costs["gpu_s"].fillna(0).sum())
    rows = [(f"{r['task']}: {r['method']}" + (f" ({r['n_fits']} fits)" if r["n_fits"] > 1 else ""),
             [Cell(_fmt_s(r["fit_s"])), Cell(_fmt_s(r["distill_s"])),
              Cell(("≥ " if r["untimed_builds"] else "") + _fmt_s(r["full_s"])),
              Cell(_fmt_s(r["evaluate_s"])), Cell(_fmt_mib(r["peak_rss_mib"]))]
             + ([Cell(_fmt_s(r["gpu_s"])), Cell(_fmt_mib(r["peak_cuda_mib"]))] if gpu else []))
            for _, r in costs.iterrows()]
    return Table("Cost (wall time on the machines that ran the cells; full = fit + every set, with shared builds "
                 "split among the methods that use them; a method fitted N times: the total of its fits and sets"
                 + ("; ≥: it used a shared build that was not timed, a lower bound" if costs["untimed_builds"].any()
                    else "") + ")",
                 ["fit (total)", "distill (per set)", "full cost", "evaluate (per run)", "peak RSS"]
                 + (["GPU time", "peak GPU memory"] if gpu else []), [("", rows)])


def _fmt_s(value) -> str:
    return "-" if pd.isna(value) else f"{value:.1f} s"


def _fmt_mib(value) -> str:
    return "-" if pd.isna(value) else f"{value:.0f} MiB"
