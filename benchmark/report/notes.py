"""The notes under the leaderboard's tables: what the numbers are, what each mark means, the reference rows, the
cell counts, the citations, and a warning where the Full dataset scores no higher than Random."""
from __future__ import annotations

import pandas as pd

from benchmark.report.published import LEARNER as PUBLISHED_LEARNER
from benchmark.report.published import published
from benchmark.report.records import REFERENCE_LABELS, REFERENCE_NOTES
from benchmark.report.statistics import ALPHA, BOOTSTRAP_MIN_UNITS, NO_DPC


def _scored_split(summary: pd.DataFrame) -> str:
    """Which split the numbers score: tasks scored on validation (choosing settings) are named "<task> (validation)"."""
    on_validation = summary["task"].astype(str).str.endswith(" (validation)")
    return ("Validation-split" if on_validation.all() else
            "Test-split (validation-split for the tasks named so)" if on_validation.any() else "Test-split")


def footnotes(summary: pd.DataFrame, citations: list[str]) -> list[str]:
    counts = summary["status"].value_counts()
    metrics = ", ".join(sorted(m for m in summary["metric"].dropna().unique())) or "accuracy"
    notes = [
        f"{_scored_split(summary)} {metrics} (%), mean ± population std over all runs (sets×runs: distilled sets × learner runs "
        f"per set). Bold: the best mean in the column (Full dataset excluded). \"no DPC\": a column whose rows do not "
        f"depend on DPC (the whole train split).",
        f"▲ significantly above {_baseline_label(summary)}, ▼ significantly below it (Welch's two-sided t-test, "
        f"p < {ALPHA}) on per-set means: the "
        f"distilled set is the unit of replication, since a set's runs share its data; a row with one set (a "
        f"deterministic method such as Herding, or the Full dataset) is compared over its learner runs, its only "
        f"replication." + (
            " A row marked \"N fits:\" holds sets from N fits of a seeded method (generators trained with other "
            "seeds); its unit is the fit (the mean of its sets' means), since a fit's sets share its generator." + (
                " \"K of N fits:\" only K of the N fits asked for have run: still tested per fit, so a cell with one "
                "fit has no test." if (summary["n_fits"] < summary["fits_asked"]).any() else "")
            if (summary["fits_asked"] > 1).any() else "") + f" † the best row "
        f"differs from the runner-up (same test). 95% intervals over the same units are in leaderboard.csv "
        f"(ci_low, ci_high: a percentile bootstrap from {BOOTSTRAP_MIN_UNITS} units, Student's t below). ‡ the runs "
        f"of this cell come from more than one code version; § some runs of this cell failed." + (
            f" ¶ in-context learning cut test queries longer than the model's context ({int(summary['queries_cut'].sum())} "
            f"query scorings in all; each kept its label: line): the scores are on shortened queries."
            if summary["queries_cut"].sum() else "") + _precision_note(summary),
        " ".join(text for method, text in REFERENCE_NOTES.items() if method in set(summary["method"])) + (
            " Published rows are the paper's numbers (BERT-base learner, GLUE validation as test), not re-run here; "
            f"they sit only under {PUBLISHED_LEARNER}, the learner that measured them."
            if any(published(t, d) for t, d, learner in zip(summary["task"], summary["dpc"], summary["learner"])
                   if learner == PUBLISHED_LEARNER) else ""),
        f"Cells: {counts.get('ok', 0)} with results, {counts.get('fail', 0)} failed (fail), "
        f"{counts.get('missing', 0)} missing (-), {counts.get('n/a', 0)} not applicable (n/a).",
    ]
    if citations:
        notes.append("Methods: " + "; ".join(citations))
    return notes


def _precision_note(summary: pd.DataFrame) -> str:
    """What the fine-tuned runs stepped in (``precision: auto`` resolves per machine), and the ° mark's meaning."""
    used = sorted({p for cell in summary["precision"].dropna() for p in cell.split("+") if p})
    if not used:
        return ""
    note = f" Fine-tuned runs stepped in {' and '.join(used)} (leaderboard.csv: precision)."
    if summary["precision"].fillna("").str.contains("+", regex=False).any():
        note += " ° the runs of this cell stepped in more than one precision (machines with and without bf16)."
    return note


def _baseline_label(summary: pd.DataFrame) -> str:
    """The table label of the row every other row is tested against (the baseline's role, ``_baseline``)."""
    labels = sorted(set(summary.loc[summary["_baseline"], "method"]))
    return REFERENCE_LABELS.get(labels[0], labels[0]) if labels else "the baseline"


def full_not_above_random(summary: pd.DataFrame) -> str | None:
    """A warning for each (task, learner) where the upper bound (Full dataset) scores no higher than the baseline
    (Random) at some DPC: the learner's recipe fails on the whole train split (e.g. TF-IDF's default regularisation
    on many rare classes), so the comparisons under it say little."""
    done = summary[summary["status"] == "ok"]
    pairs = pd.concat({role: done[done[f"_{role}"]].groupby(["task", "learner", "dpc"])["mean"].max()
                       for role in ("upper_bound", "baseline")}, axis=1).dropna()
    low = pairs[pairs["upper_bound"] <= pairs["baseline"]]
    if low.empty:
        return None
    baseline = _baseline_label(summary)
    cases = "; ".join(f"{learner} on {task}: Full {row.upper_bound:.1f} vs {baseline} {row.baseline:.1f}"
                      + (f" at DPC {dpc}" if dpc != NO_DPC else "")
                      for (task, learner, dpc), row in low.iterrows())
    return (f"Warning: the Full dataset scores no higher than {baseline} ({cases}). The learner fails on the whole "
            f"train split, so its rows say little about the methods: on imbalanced or many-class data give it "
            f"`class_weight: balanced` (tfidf-logreg, bow-ngrams and the fine-tuned learners take it) or, for "
            f"tfidf-logreg, a larger `C`, chosen on the validation split (`score_on: validation`), never on the test split.")
