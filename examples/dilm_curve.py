"""DiLM's curve against the stage-1 budget, from a runs folder of examples/grids/dilm-curve-rt-polarity.yaml:
per generative method (vanilla LM or DiLM, class written as words or as a token), stage-1 steps and DPC, the judge's
on-label share of its sets and each learner's score, beside the Random and K-centers rows; a table (CSV and markdown)
and a plot (score and on-label share against stage-1 steps). Reads records only.

    python examples/dilm_curve.py runs/dilm-curve results/dilm-curve-rt-polarity
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from benchmark.report.leaderboard import load_fidelity, load_records

GENERATIVE = ("vanilla-lm", "dilm")


def curve(runs_dir: Path) -> pd.DataFrame:
    """One row per (method, prompt, stage-1 steps, DPC, learner): mean and std of the score (%) over runs, runs,
    and the mean on-label share (%) of the cell's sets; baselines (no stage 1) have no steps."""
    records = load_records(runs_dir)
    if records.empty:
        raise SystemExit(f"{runs_dir}: no finished evaluate records")
    params = records["method_params"].map(json.loads)
    records = records.assign(
        score=records.apply(lambda r: 100 * r[f"metric.{r['metric']}"], axis=1),
        family=records["method_name"],
        prompt=[p.get("class_prompt", "") if n in GENERATIVE else "" for n, p in zip(records["method_name"], params)],
        lm_steps=[p.get("lm_steps") if n in GENERATIVE else None for n, p in zip(records["method_name"], params)])
    keys = ["family", "prompt", "lm_steps", "dpc", "learner"]
    table = records.groupby(keys, dropna=False).agg(score=("score", "mean"), std=("score", lambda s: s.std(ddof=0)),
                                                    runs=("score", "size"), method=("method", "first")).reset_index()
    fidelity = load_fidelity(runs_dir)
    if not fidelity.empty:
        on_label = fidelity.groupby(["method", "dpc"], dropna=False)["on_label_share"].mean().mul(100).rename("on_label")
        table = table.join(on_label, on=["method", "dpc"])
    return table.sort_values(keys).reset_index(drop=True)


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learners = sorted(table["learner"].unique())
    fig, axes = plt.subplots(1, len(learners) + 1, figsize=(5 * (len(learners) + 1), 4), squeeze=False)
    generated = table[table["family"].isin(GENERATIVE)]
    for ax, learner in zip(axes[0], learners):
        for (family, prompt, dpc), rows in generated[generated["learner"] == learner].groupby(["family", "prompt", "dpc"]):
            ax.errorbar(rows["lm_steps"], rows["score"], yerr=rows["std"], marker="o", capsize=3,
                        label=f"{family} ({prompt}) DPC {dpc}")
        for _, row in table[(table["learner"] == learner) & ~table["family"].isin(GENERATIVE)].iterrows():
            ax.axhline(row["score"], linestyle=":", linewidth=1, color="grey")
            ax.annotate(f"{row['family']} DPC {row['dpc']}", (generated["lm_steps"].min(), row["score"]), fontsize=7)
        ax.set(xscale="log", xlabel="stage-1 LM steps", ylabel="score (%)", title=learner)
    ax = axes[0][-1]
    for (family, prompt, dpc), rows in generated.drop_duplicates(["method", "dpc"]).groupby(["family", "prompt", "dpc"]):
        if "on_label" in rows:
            ax.plot(rows["lm_steps"], rows["on_label"], marker="o", label=f"{family} ({prompt}) DPC {dpc}")
    ax.set(xscale="log", xlabel="stage-1 LM steps", ylabel="on-label share (%)", title="judge")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    table = curve(args.runs_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    table.round(3).to_csv(args.out / "curve.csv", index=False)
    (args.out / "curve.md").write_text(table.round(1).to_markdown(index=False) + "\n", encoding="utf-8")
    plot(table, args.out / "curve.png")
    print(table.round(1).to_markdown(index=False))
    print(f"written to {args.out}/ (curve.csv, curve.md, curve.png)")


if __name__ == "__main__":
    main()
