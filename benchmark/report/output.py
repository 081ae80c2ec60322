"""A report on disk: leaderboard.{md,tex,csv}, runs.csv, comparisons.csv, costs.csv, fidelity.csv, plots/ and the
HTML site, written only when something it reads changed."""
from __future__ import annotations

import json
from pathlib import Path

from benchmark.core.files import atomic_write_text
from benchmark.report.carried import RUNS_CSV, digest, write_runs
from benchmark.report.leaderboard import build_report
from benchmark.report.render import render_latex, render_markdown
from benchmark.report.statistics import Expected


def write_report(runs_dir: Path, out_dir: Path, cell_ids: set[str] | None = None, dpcs: list[int] | None = None,
                 expected: Expected | None = None, plots: bool = True, html: bool = False, texts: bool = True,
                 projections: dict[str, list[str]] | None = None, judge_version: int | None = None,
                 carry: list[Path] = ()) -> str:
    """Write leaderboard.{md,tex,csv}, runs.csv (every run behind them), comparisons.csv, costs.csv and the plots into
    ``out_dir`` (with ``html``, the static site: index.html and cells/), with the runs carried from the report folders
    in ``carry``; return the markdown. When nothing it reads has changed since it last wrote ``out_dir``
    (``report_inputs``), the files are kept as they are."""
    fingerprint = report_inputs(runs_dir, cell_ids, dpcs, expected,
                                (plots, html, texts, judge_version, digest(list(carry))))
    stamp, existing = out_dir / INPUTS_STAMP, out_dir / "leaderboard.md"
    if fingerprint and stamp.is_file() and existing.is_file() and stamp.read_text() == fingerprint:
        return existing.read_text(encoding="utf-8")
    stamp.unlink(missing_ok=True)
    report = build_report(runs_dir, cell_ids, dpcs, expected, judge_version, carry)
    markdown = render_markdown(report.tables, report.notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "leaderboard.md", markdown)
    atomic_write_text(out_dir / "leaderboard.tex", render_latex(report.tables, report.notes))
    atomic_write_text(out_dir / "leaderboard.csv", public(report.summary).round(4).to_csv(index=False))
    if len(report.records):
        write_runs(report.records, out_dir / RUNS_CSV)
    if len(report.comparisons):
        atomic_write_text(out_dir / "comparisons.csv", report.comparisons.round(4).to_csv(index=False))
    if len(report.costs):
        atomic_write_text(out_dir / "costs.csv", report.costs.round(3).to_csv(index=False))
    if len(report.fidelity):
        atomic_write_text(out_dir / "fidelity.csv", report.fidelity.round(4).to_csv(index=False))
    if plots and len(report.summary):
        from benchmark.report.plots import write_plots  # matplotlib: imported only when plotting

        write_plots(report.summary, report.costs, out_dir / "plots")
    if html:
        from benchmark.report.html import write_site  # Jinja2

        write_site(report, runs_dir, out_dir, texts, projections)
    if fingerprint:
        atomic_write_text(stamp, fingerprint)
    return markdown


def public(summary):
    """The summary's columns for leaderboard.csv: without the working ones (``_``: the rows' reference roles)."""
    return summary[[column for column in summary.columns if not column.startswith("_")]]


INPUTS_STAMP = ".inputs.sha256"  # next to a leaderboard: the fingerprint of what it was built from


def report_inputs(runs_dir: Path, cell_ids, dpcs, expected, plots) -> str | None:
    """A fingerprint of everything a report reads: each record's path, size and modification time, the cells and
    DPCs asked for, and the code's commit. None when the code has uncommitted changes (always rebuilt then)."""
    import hashlib

    from benchmark.core.provenance import git_state

    state = git_state()
    if not state["commit"] or state["dirty"]:
        return None
    records = sorted((str(p.relative_to(runs_dir)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in Path(runs_dir).glob("*/*/record.json"))
    payload = json.dumps([state["commit"], records, sorted(cell_ids or ()), dpcs, repr(expected), plots],
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
