"""Leaderboard plots (PNG and PDF): accuracy vs DPC per task with error bars (tasks with DPC-dependent rows), a
cross-architecture heatmap per task, and accuracy vs distillation cost; plots of an earlier report that this one
does not make are removed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.report.records import REFERENCE_LABELS


def _save(fig, directory: Path, name: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.png", directory / f"{name}.pdf"]
    for path in paths:  # no creation date in the PDF: the same results give the same file
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    return paths


def _labels(part: pd.DataFrame) -> dict[str, str]:
    """Each method's name in a plot, as in the tables: a reference row (Full dataset, Random) by its table label,
    marked as a reference."""
    references = set(part.loc[part["reference"], "method"])
    return {m: f"{REFERENCE_LABELS.get(m, m)} (reference)" if m in references else m for m in part["method"].unique()}


def write_plots(summary: pd.DataFrame, costs: pd.DataFrame, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    ok = summary[summary["status"] == "ok"]
    for task, part in ok.groupby("task"):
        metric = f"test {part['metric'].dropna().iloc[0]} (%)"
        if not part["dpc_independent"].all():
            written += _accuracy_vs_dpc(plt, task, part, metric, directory)
        written += _cross_architecture(plt, task, part, metric, directory)
    written += _accuracy_vs_cost(plt, ok, costs, directory)
    if directory.is_dir():
        for stale in {*directory.glob("*.png"), *directory.glob("*.pdf")} - set(written):
            stale.unlink()
    return written


def _accuracy_vs_dpc(plt, task: str, part: pd.DataFrame, metric: str, directory: Path) -> list[Path]:
    learners = sorted(part["learner"].unique())
    labels = _labels(part)
    fig, axes = plt.subplots(1, len(learners), figsize=(5 * len(learners), 4), squeeze=False, sharey=True)
    for ax, learner in zip(axes[0], learners):
        for method, rows in part[part["learner"] == learner].groupby("method"):
            rows = rows.sort_values("dpc")
            style = {"linestyle": "--", "marker": None} if rows["_upper_bound"].any() else {"marker": "o"}
            ax.errorbar(rows["dpc"], rows["mean"], yerr=rows["std"], capsize=3, label=labels[method], **style)
        ax.set_title(f"{task} - {learner}")
        ax.set_xlabel("data per class (DPC)")
        ax.set_xticks(sorted(part["dpc"].unique()))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    written = _save(fig, directory, f"accuracy_vs_dpc_{task}")
    plt.close(fig)
    return written


def _cross_architecture(plt, task: str, part: pd.DataFrame, metric: str, directory: Path) -> list[Path]:
    """Methods x learners at the task's largest DPC (its only column when every row is DPC-independent)."""
    if part["learner"].nunique() < 2:
        return []
    dpc = int(part["dpc"].max())
    at = part[part["dpc"] == dpc]
    grid = at.pivot_table(index="method", columns="learner", values="mean")
    fig, ax = plt.subplots(figsize=(1.6 * grid.shape[1] + 3, 0.5 * grid.shape[0] + 1.5))
    image = ax.imshow(grid.to_numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="right")
    labels = _labels(at)
    ax.set_yticks(range(grid.shape[0]), [labels[m] for m in grid.index])
    middle = (grid.min().min() + grid.max().max()) / 2
    for (i, j), value in pd.DataFrame(grid.to_numpy()).stack().items():
        ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                color="black" if value > middle else "white")
    where = "no DPC" if at["dpc_independent"].all() else f"DPC {dpc}"
    ax.set_title(f"{task}, {where}: distilled set (rows) x learner (columns)")
    fig.colorbar(image, ax=ax, label=metric)
    written = _save(fig, directory, f"cross_architecture_{task}")
    plt.close(fig)
    return written


def _accuracy_vs_cost(plt, ok: pd.DataFrame, costs: pd.DataFrame, directory: Path) -> list[Path]:
    if not len(costs):
        return []
    per_fit = costs.assign(cost=costs["full_s"].fillna(0) / costs["n_fits"].clip(lower=1))  # one fit + its sets
    merged = ok.merge(per_fit[["task", "method", "cost"]], on=["task", "method"])
    if not len(merged):
        return []
    labels = _labels(merged)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, rows in merged.groupby("method"):
        ax.scatter(rows["cost"] + 1e-3, rows["mean"], label=labels[method], s=12 + 2 * rows["dpc"])
    ax.set_xscale("log")
    ax.set_xlabel("method's full cost: one fit + its sets, shared builds split (s, log)")
    ax.set_ylabel("test score (%, each task's metric)")
    ax.set_title("accuracy vs distillation cost (all tasks, learners, DPCs; size = DPC)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    written = _save(fig, directory, "accuracy_vs_cost")
    plt.close(fig)
    return written
