"""DiLM's levers and its curve against the stage-1 budget, from a runs folder of examples/grids/dilm-curve-rt-polarity.yaml
or dilm-levers-rt-polarity.yaml: per generative method (vanilla LM or DiLM), class prompt (words or a token), label
filter (on or off), any other setting the grid gave it (e.g. stage 2's generator_lr), stage-1 steps and DPC, the
judge's on-label share of its sets and each learner's score, beside the Random and K-centers rows; a table (CSV and
markdown) and a plot (score and on-label share against stage-1 steps). Values a grid left to the preset are read from
the preset. Reads records only.

    python examples/dilm_curve.py runs/dilm-curve results/dilm-curve-rt-polarity
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from benchmark.report.records import REFERENCE_LABELS, load_fidelity, load_records
from dilm.config import field_names, resolve

GENERATIVE = ("vanilla-lm", "dilm")
LEVERS = ("class_prompt", "label_filter", "lm_steps")  # columns of their own; other explicit settings go to "other"


def curve(runs_dir: Path) -> pd.DataFrame:
    """One row per (method, prompt, label filter, other settings, stage-1 steps, DPC, learner): mean and std of the score (%) over
    runs, runs, fits (generators trained with other seeds, ``n_fits``) and the std of the fits' mean scores
    (``fit_std``: how much the generator's seed moves the row), and the mean on-label share (%) of the cell's sets;
    baselines (no generator) have none of the levers."""
    records = load_records(runs_dir)
    if records.empty:
        raise SystemExit(f"{runs_dir}: no finished evaluate records")
    levers = [_levers(name, json.loads(params)) for name, params in zip(records["method_name"], records["method_params"])]
    records = records.assign(score=records.apply(lambda r: 100 * r[f"metric.{r['metric']}"], axis=1),
                             family=records["method_name"], **pd.DataFrame(levers, index=records.index))
    keys = ["family", "prompt", "label_filter", "other", "lm_steps", "dpc", "learner"]
    table = records.groupby(keys, dropna=False).agg(score=("score", "mean"), std=("score", lambda s: s.std(ddof=0)),
                                                    runs=("score", "size"), fits=("fit_seed", "nunique"),
                                                    method=("method", "first")).reset_index()
    per_fit = records.groupby(keys + ["fit_seed"], dropna=False)["score"].mean()
    fit_std = per_fit.groupby(level=list(range(len(keys))), dropna=False).std(ddof=0).rename("fit_std")
    table = table.merge(fit_std.reset_index(), on=keys, how="left")
    table.loc[table["fits"] < 2, "fit_std"] = float("nan")  # one generator: no spread between fits to show
    fidelity = load_fidelity(runs_dir)
    if not fidelity.empty:
        on_label = fidelity.groupby(["method", "dpc"], dropna=False)["on_label_share"].mean().mul(100).rename("on_label")
        labels = table["method"].map(lambda m: REFERENCE_LABELS.get(m, m))  # the judge's rows say "Random"
        table = table.assign(on_label=[on_label.get((m, d)) for m, d in zip(labels, table["dpc"])])
    return table.sort_values(keys).reset_index(drop=True)


def _levers(method: str, params: dict) -> dict:
    """A generative method's class prompt, label filter and stage-1 steps, its preset filling what the grid left out,
    and the other settings the grid gave it (runtime ones, which change no result, left out)."""
    if method not in GENERATIVE:
        return {"prompt": "", "label_filter": None, "lm_steps": None, "other": ""}
    cfg = resolve(params.get("preset", "cpu"), {k: v for k, v in params.items() if k != "preset"})
    settings = set(field_names(runtime=False)) - set(LEVERS)
    other = ", ".join(f"{k}={params[k]}" for k in sorted(params) if k in settings)
    return {"prompt": cfg.class_prompt, "label_filter": cfg.label_filter, "lm_steps": cfg.lm_steps, "other": other}


def _variant(family: str, prompt: str, label_filter, other: str) -> str:
    return f"{family} ({prompt}{', filtered' if label_filter else ''}{', ' + other if other else ''})"


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learners = sorted(table["learner"].unique())
    fig, axes = plt.subplots(1, len(learners) + 1, figsize=(5 * (len(learners) + 1), 4), squeeze=False)
    generated = table[table["family"].isin(GENERATIVE)]
    for ax, learner in zip(axes[0], learners):
        for (family, prompt, kept, other, dpc), rows in generated[generated["learner"] == learner].groupby(
                ["family", "prompt", "label_filter", "other", "dpc"]):
            ax.errorbar(rows["lm_steps"], rows["score"], yerr=rows["std"], marker="o", capsize=3,
                        label=f"{_variant(family, prompt, kept, other)} DPC {dpc}")
        for _, row in table[(table["learner"] == learner) & ~table["family"].isin(GENERATIVE)].iterrows():
            ax.axhline(row["score"], linestyle=":", linewidth=1, color="grey")
            ax.annotate(f"{row['family']} DPC {row['dpc']}", (generated["lm_steps"].min(), row["score"]), fontsize=7)
        ax.set(xscale="log", xlabel="stage-1 LM steps", ylabel="score (%)", title=learner)
    ax = axes[0][-1]
    for (family, prompt, kept, other, dpc), rows in generated.drop_duplicates(["method", "dpc"]).groupby(
            ["family", "prompt", "label_filter", "other", "dpc"]):
        if "on_label" in rows:
            ax.plot(rows["lm_steps"], rows["on_label"], marker="o",
                    label=f"{_variant(family, prompt, kept, other)} DPC {dpc}")
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
