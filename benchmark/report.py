"""Leaderboard: every evaluate record -> a DataFrame -> mean +- population std (n) per
(task, learner, method, DPC) -> one table per learner (rows: methods; columns: task x DPC)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.store import Store


def load_records(runs_dir: Path | str, cell_ids: set[str] | None = None) -> pd.DataFrame:
    """One row per finished evaluate run (optionally only ``cell_ids``), its config and metrics flattened."""
    rows = []
    for record in Store(Path(runs_dir)).done_records("evaluate"):
        if cell_ids is not None and record["cell_id"] not in cell_ids:
            continue
        config = record["config"]
        rows.append({
            "cell_id": record["cell_id"], "task": config["task"]["name"], "method": config["method"]["name"],
            "dpc": config["dpc"], "set_seed": config["set_seed"], "learner": config["learner"]["name"],
            "eval_seed": config["eval_seed"], "metric": record["task"]["metric"],
            **{f"metric.{k}": v for k, v in record["metrics"].items()},
            "train_checksum": record["task"]["split_checksums"]["train"],
            "test_checksum": record["task"]["split_checksums"]["test"],
            "wall_s": record["wall_s"], "peak_rss_mib": record["memory"]["peak_rss_mib"],
            "code_version": record["code_version"],
        })
    return pd.DataFrame(rows)


def summarise(records: pd.DataFrame, dpcs: list[int] | None = None) -> pd.DataFrame:
    """Long form: task, learner, method, dpc, metric, mean, std (population), n, in percent.

    A DPC-independent set (dpc None, e.g. ``full``) is repeated under every DPC of its task."""
    if records.empty:
        return pd.DataFrame(columns=["task", "learner", "method", "dpc", "metric", "mean", "std", "n"])
    records = records.copy()
    records["score"] = records.apply(lambda row: row[f"metric.{row['metric']}"], axis=1) * 100
    task_dpcs = dpcs or sorted({int(d) for d in records["dpc"].dropna()})
    fixed = records[records["dpc"].notna()]
    expanded = [fixed] + [records[records["dpc"].isna()].assign(dpc=d) for d in task_dpcs]
    records = pd.concat(expanded, ignore_index=True)
    records["dpc"] = records["dpc"].astype(int)
    grouped = records.groupby(["task", "learner", "method", "dpc", "metric"])["score"]
    summary = grouped.agg(mean="mean", std=lambda s: s.std(ddof=0), n="count").reset_index()
    return summary


def leaderboard_tables(summary: pd.DataFrame, reference_methods: set[str]) -> dict[str, pd.DataFrame]:
    """One table per learner: rows = methods (reference rows last, marked), columns = task DPC."""
    tables = {}
    for learner, part in summary.groupby("learner", sort=True):
        part = part.assign(column=[f"{t} DPC {d}" for t, d in zip(part["task"], part["dpc"])],
                           cell=[f"{m:.1f} ± {s:.1f} ({n})" for m, s, n in zip(part["mean"], part["std"], part["n"])])
        columns = [f"{t} DPC {d}" for t, d in sorted(set(zip(part["task"], part["dpc"])))]
        table = part.pivot(index="method", columns="column", values="cell").reindex(columns=columns).fillna("-")
        order = sorted(table.index, key=lambda m: (m in reference_methods, m))
        table = table.loc[order]
        table.index = [f"{m} (reference)" if m in reference_methods else m for m in table.index]
        table.index.name = "method"
        tables[learner] = table
    return tables


def render_markdown(tables: dict[str, pd.DataFrame], metric_note: str) -> str:
    parts = []
    for learner, table in tables.items():
        parts.append(f"### Learner: {learner}\n\n{table.to_markdown()}\n")
    parts.append(metric_note)
    return "\n".join(parts) + "\n"


def write_report(runs_dir: Path, out_dir: Path, cell_ids: set[str] | None = None,
                 dpcs: list[int] | None = None) -> str:
    """Write ``leaderboard.md`` and ``leaderboard.csv`` into ``out_dir``; return the markdown."""
    from methods import METHODS
    from benchmark.store import atomic_write_text

    records = load_records(runs_dir, cell_ids)
    summary = summarise(records, dpcs)
    reference = {m for m in summary["method"].unique() if m in METHODS and getattr(METHODS.get(m), "reference", False)}
    tables = leaderboard_tables(summary, reference)
    metrics = ", ".join(sorted(summary["metric"].unique())) or "accuracy"
    note = (f"Test-split {metrics} (%), mean ± population std (n runs = distilled sets x learner seeds). "
            f"Rows marked (reference) are reference rows: full = the whole train split; random = DPC real "
            f"examples per class drawn uniformly. `-` = no finished run.")
    citations = [f"- {m}: {METHODS.get(m).CARD.citation}" for m in sorted(summary["method"].unique())
                 if m in METHODS and METHODS.get(m).CARD and METHODS.get(m).CARD.citation]
    if citations:
        note += "\n\nMethods:\n" + "\n".join(citations)
    markdown = render_markdown(tables, note)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "leaderboard.md", markdown)
    atomic_write_text(out_dir / "leaderboard.csv", summary.round(3).to_csv(index=False))
    return markdown
