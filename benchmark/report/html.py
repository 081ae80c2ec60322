"""The leaderboard as a static site: ``index.html`` (the tables of leaderboard.md, sortable and filterable, the
plots, method cards, costs) and a page per (task, method, DPC) with its sets' texts and every run behind it.

Built from the records alone (through the store), by Jinja2 templates with autoescaping (a dataset's texts are
shown, never run); it opens from ``file://`` with no network: one inline script, no CDN.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from benchmark.core.files import atomic_write_text
from benchmark.core.provenance import shown
from benchmark.report.leaderboard import Report
from benchmark.report.records import REFERENCE_LABELS
from benchmark.report.tables import Cell, Table
from benchmark.study.store import FIDELITY, Store

SHOWN_TEXTS = 200  # texts listed per set on a cell page; the rest stay in the set's distilled.jsonl
KIND_LABELS = {"text": "text-level", "embedding": "embedding-level", "empty": "no examples (zero-shot)"}


def slug(*parts) -> str:
    """A file-name- and anchor-safe id for a key: readable, plus a short hash so distinct keys never collide."""
    text = ".".join("all" if p is None else str(p) for p in parts)
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")[:80]
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def page_key(task: str, method: str, dpc) -> tuple:
    """A cell page's key: DPC-independent sets (the Full dataset) have one page, whatever column links to it."""
    return task, method, None if dpc is None or (isinstance(dpc, float) and math.isnan(dpc)) else int(dpc)


@dataclass
class SetView:
    """One distilled set on a cell page: its texts (the first SHOWN_TEXTS), labels and, where measured, what the
    judge said about each text."""

    distill_cell: str
    set_seed: int
    n_examples: int | None  # None: the set's distill record is not in this runs folder (its runs carried)
    fields: list[str]
    rows: list[dict]  # {"texts", "label", "train_index", "verdict", "overlap"}
    kind: str
    fidelity: dict | None = None
    note: str = ""
    fit_seed: int = 0  # the fit the set came from (a seeded method's n_fits)
    projection: tuple[str, str] | None = None  # an embedding-level set's text projection: (its method, its page#set)

    @property
    def label(self) -> str:
        return set_label(self.set_seed, self.fit_seed)


def set_label(set_seed: int, fit_seed: int = 0) -> str:
    """A set as its cell page names it: its seed, and its fit where the method made more than the first."""
    return f"{set_seed} (fit {fit_seed})" if fit_seed else str(set_seed)


@dataclass
class CellPage:
    task: str
    method: str
    dpc: int | None
    slug: str
    kind: str
    reference: bool
    citation: str | None
    method_params: dict
    scores: list[dict] = field(default_factory=list)  # per learner: mean, std, n, status
    sets: list[SetView] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)


def write_site(report: Report, runs_dir: Path, out_dir: Path, texts: bool = True,
               projections: dict[str, list[str]] | None = None) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/cells/*.html``; returns the index's path. ``texts=False`` leaves
    the sets' texts out of the pages (e.g. a public copy of a study on third-party sets that may not be copied);
    ``projections``: method name -> the text methods that map its embedding-level sets to text."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    store = Store(Path(runs_dir))
    pages = cell_pages(report, store, texts, projections or {})
    (out_dir / "cells").mkdir(parents=True, exist_ok=True)
    stale = {p.name for p in (out_dir / "cells").glob("*.html")}
    style, cell_template = _template("site.css"), env.get_template("cell.html")  # read once for every page
    for page in pages.values():
        atomic_write_text(out_dir / "cells" / f"{page.slug}.html", cell_template.render(
            page=page, kinds=KIND_LABELS, style=style, shown=SHOWN_TEXTS))
        stale.discard(f"{page.slug}.html")
    for name in stale:  # pages of cells no longer in the report
        (out_dir / "cells" / name).unlink()
    tables = [_table_view(i, table, pages, report) for i, table in enumerate(report.tables)]
    filters = {"task": sorted({c["task"] for t in tables for c in t["columns"] if c.get("task")}),
               "dpc": sorted({c["dpc"] for t in tables for c in t["columns"] if c.get("dpc") is not None}),
               "learner": sorted({t["learner"] for t in tables if t["learner"]}),
               "kind": sorted({r["kind"] for t in tables for b in t["blocks"] for r in b["rows"] if r["kind"]})}
    plots = sorted(str(p.relative_to(out_dir)) for p in (out_dir / "plots").glob("*.png")) \
        if (out_dir / "plots").is_dir() else []
    index = out_dir / "index.html"
    atomic_write_text(index, env.get_template("index.html").render(
        title=out_dir.name, tables=tables, notes=report.notes, filters=filters, plots=plots,
        cards=method_cards(pages), kinds=KIND_LABELS, style=style, script=_template("site.js")))
    return index


def cell_pages(report: Report, store: Store, texts: bool = True,
               projections: dict[str, list[str]] | None = None) -> dict[tuple, CellPage]:
    """One page per (task, method, DPC) that has finished runs, from the report's rows of those runs (carried ones
    included) and the sets the runs folder holds."""
    pages: dict[tuple, CellPage] = {}
    records = report.records
    if records.empty:
        return pages
    sets_at: dict[tuple, tuple[str, tuple]] = {}  # a set's coordinates -> (its distill cell, its page's key)
    for row in records.to_dict("records"):
        config = row["config"]
        label = REFERENCE_LABELS.get(row["method"], row["method"])
        key = page_key(row["task"], label, config["dpc"])
        page = pages.get(key)
        if page is None:
            page = pages[key] = CellPage(*key, slug(*key), row["method_kind"], bool(row["reference"]),
                                         row["citation"] if isinstance(row["citation"], str) else None,
                                         shown({**config["method"]["params"], **config.get("method_config", {})}))
        if row["distill_cell"] and all(s.distill_cell != row["distill_cell"] for s in page.sets):
            page.sets.append(_set_view(store, row["distill_cell"], config["set_seed"], page.kind, texts,
                                       config["fit_seed"], row["carried_from"]))
            sets_at[_set_coordinates(key[0], config)] = (row["distill_cell"], key)
        page.runs.append(_run_view(row))
    _add_projections(pages, sets_at, projections or {})
    for page in pages.values():
        page.sets.sort(key=lambda s: (s.fit_seed, s.set_seed))
        page.runs.sort(key=lambda r: (r["learner"], r["fit_seed"], r["set_seed"], r["run"]))
        page.scores = _scores(report.summary, page)
    return pages


def _set_coordinates(task: str, config: dict) -> tuple:
    """What identifies a set across methods: task, method (name and params), DPC, fit and set seed."""
    return (task, config["method"]["name"], json.dumps(config["method"]["params"], sort_keys=True),
            config["dpc"], config["fit_seed"], config["set_seed"])


def _add_projections(pages: dict, sets_at: dict, projectors: dict[str, list[str]]) -> None:
    """An embedding-level set's page shows its text projection (e.g. tdd's nearest tokens, the tdd-text set of the
    same params and seeds) where that set ran in the same runs folder, with a link to its own page. ``projectors``:
    method name -> the text methods that project its sets (given by the caller: the report imports no method)."""
    for coordinates, (distill_cell, key) in sets_at.items():
        page = pages[key]
        if page.kind != "embedding":
            continue
        for name in projectors.get(coordinates[1], []):
            found = sets_at.get((coordinates[0], name, *coordinates[2:]))
            if found is None:
                continue
            view = next(s for s in page.sets if s.distill_cell == distill_cell)
            text = next(s for s in pages[found[1]].sets if s.distill_cell == found[0])  # read for its own page
            view.fields, view.rows = text.fields, text.rows
            view.projection = (name, f"{pages[found[1]].slug}.html#{found[0]}")
            view.note = (f"An embedding-level set: learned input-embedding sequences of one model's space, not text. "
                         f"Shown: its text projection, the {name} set of the same seeds (the texts are not the set).")
            break


def _set_view(store: Store, distill_cell: str, set_seed: int, kind: str, texts: bool = True,
              fit_seed: int = 0, carried_from: str | None = None) -> SetView:
    folder = store.cell_dir("distill", distill_cell)
    meta_path = folder / "distilled.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    fidelity = store.record(FIDELITY, distill_cell) if store.is_done(FIDELITY, distill_cell) else None
    n_examples = int(meta["n_examples"]) if "n_examples" in meta else None
    view = SetView(distill_cell, set_seed, n_examples, list(meta.get("text_fields", [])), [], kind, fidelity,
                   fit_seed=fit_seed)
    if kind == "embedding":
        view.note = ("An embedding-level set: learned input-embedding sequences of one model's space, not text. "
                     "Its nearest-token text is the method's text projection (e.g. the tdd-text row), where run.")
        return view
    rows_path = folder / "distilled.jsonl"
    if not rows_path.is_file():
        view.note = ("The set's texts are not in the runs folder" + (f": its runs are carried from "
                     f"{shown(carried_from)}." if carried_from and not meta else "."))
        return view
    if not texts:
        view.note = (f"The texts are left out of this copy of the page (report --no-texts); the set is "
                     f"distill/{distill_cell}/distilled.jsonl in the runs folder.")
        return view
    verdicts = (fidelity or {}).get("verdicts") or []
    overlaps = (fidelity or {}).get("overlap_kinds") or []
    label_names = meta.get("label_names", [])
    with rows_path.open(encoding="utf-8") as rows:
        for i, line in enumerate(rows):
            if i >= SHOWN_TEXTS:
                view.note = (f"The first {SHOWN_TEXTS} of {view.n_examples} texts; the whole set is "
                             f"distill/{distill_cell}/distilled.jsonl in the runs folder.")
                break
            row = json.loads(line)
            verdict = verdicts[i] if i < len(verdicts) else None
            view.rows.append({"texts": [row.get(f, "") for f in view.fields], "label": row.get("label_name"),
                              "train_index": row.get("train_index"),
                              "verdict": None if verdict is None else (label_names[verdict] if verdict < len(label_names)
                                                                       else verdict),
                              "on_label": None if verdict is None else verdict == row.get("label"),
                              "overlap": overlaps[i] if i < len(overlaps) else None})
    return view


def _run_view(row: dict) -> dict:
    """A run as its cell page lists it, from its report row (``leaderboard.load_records``, or carried)."""
    config = shown(row["config"])
    return {"cell_id": row["cell_id"], "learner": row["learner"], "set_seed": config["set_seed"],
            "fit_seed": config["fit_seed"], "set": set_label(config["set_seed"], config["fit_seed"]),
            "run": config.get("run"), "eval_seed": config.get("eval_seed"), "metric": row["metric"],
            "score": 100 * row[f"metric.{row['metric']}"], "wall_s": row["wall_s"], "peak_rss_mib": row["peak_rss_mib"],
            "code_version": row["code_version"], "commit": row["git_commit"], "dirty": row["git_dirty"],
            "host": shown(row["host"] or {}), "versions": row["versions"] or {}, "seeds": row["seeds"] or {},
            "started_at": row["started_at"], "stack": row["stack"], "carried_from": shown(row["carried_from"]),
            "config": json.dumps(config, indent=1, sort_keys=True),
            "recipe": json.dumps(row["recipe"] or {}, sort_keys=True)}


def _scores(summary: pd.DataFrame, page: CellPage) -> list[dict]:
    rows = summary[(summary["task"] == page.task) & (summary["method"].map(lambda m: REFERENCE_LABELS.get(m, m))
                                                     == page.method)]
    if page.dpc is not None:
        rows = rows[rows["dpc"] == page.dpc]
    out = []
    for (learner, dpc), row in rows.groupby(["learner", "dpc"]):
        row = row.iloc[0]
        out.append({"learner": learner, "dpc": int(dpc), "status": row["status"], "mean": row["mean"],
                    "std": row["std"], "n": int(row["n"]), "metric": row["metric"]})
    return out


def method_cards(pages: dict[tuple, CellPage]) -> list[dict]:
    """One card per method label: its kind, whether it is a reference row, its citation and parameters."""
    cards: dict[str, dict] = {}
    for page in pages.values():
        card = cards.setdefault(page.method, {"method": page.method, "kind": page.kind, "reference": page.reference,
                                              "citation": page.citation, "params": set()})
        card["params"].add(json.dumps(page.method_params, sort_keys=True))
    return [{**card, "params": sorted(card["params"])} for _, card in sorted(cards.items())]


def _table_view(index: int, table: Table, pages: dict, report: Report) -> dict:
    kinds = {}
    if not report.records.empty:
        for label, kind in zip(report.records["method"], report.records["method_kind"]):
            kinds[REFERENCE_LABELS.get(label, label)] = kind
    blocks = []
    for block_title, rows in table.blocks:
        kind_of_block = "reference" if block_title == "reference rows" else "published" if block_title else None
        blocks.append({"title": block_title, "rows": [
            {"label": label, "kind": kind_of_block or kinds.get(label, ""),
             "cells": [_cell_view(cell, pages, anchored=table.learner is not None) for cell in cells]}
            for label, cells in rows]})
    columns = [{"label": label, **(table.column_keys[i] if i < len(table.column_keys) else {})}
               for i, label in enumerate(table.columns)]
    return {"id": f"table-{index}", "title": table.title, "learner": table.learner, "columns": columns,
            "blocks": blocks}


def _cell_view(cell: Cell, pages: dict, anchored: bool) -> dict:
    """A table cell for the template; ``anchored`` (the main tables, where each cell appears once) gives it its
    permanent id."""
    view = {"text": cell.text, "bold": cell.bold, "marks": cell.marks,
            "value": cell.value if cell.value is not None else _number(cell.text), "href": None, "id": None}
    if cell.key is not None:
        task, learner, method, dpc = cell.key
        view["id"] = "cell-" + slug(task, learner, method, dpc) if anchored else None  # leaderboard.csv's key
        label = REFERENCE_LABELS.get(method, method)
        page = pages.get((task, label, dpc)) or pages.get((task, label, None))
        if page is not None:
            view["href"] = f"cells/{page.slug}.html"
    return view


def _number(text: str) -> float | None:
    match = re.match(r"\s*(-?[0-9]+(?:\.[0-9]+)?)", text)
    return float(match.group(1)) if match else None


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _template(name: str) -> str:
    return resources.files("benchmark.report").joinpath("templates", name).read_text(encoding="utf-8")
