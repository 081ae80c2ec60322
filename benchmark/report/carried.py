"""Runs carried from another report. Every report writes ``runs.csv``: one row per evaluate run with its score,
config, seeds, versions, commit and host, so that each number of a committed leaderboard stays traceable once its
runs folder is gone, and a study measured elsewhere (another machine, another cluster, a contributor's results
folder) joins a leaderboard: ``python -m benchmark report RUNS --carry FOLDER``. The runs folder's own records win
over a carried row of the same cell; the first folder given wins among carried ones."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from benchmark.core.errors import UsageError
from benchmark.core.files import atomic_write_text
from benchmark.core.provenance import shown

RUNS_CSV = "runs.csv"
FIDELITY_CSV = "fidelity.csv"
CLEAN_CSV = "clean-test.csv"
CLEAN_KEY = ["task", "learner", "method", "dpc"]
FIDELITY_KEY = ["task", "method", "distill_cell"]
JSON_COLUMNS = ("learner_accepts", "config", "recipe", "seeds", "versions", "host", "stack")
BOOL_COLUMNS = ("reference", "described", "git_dirty")
ROLE_COLUMNS = ("baseline", "upper_bound")  # True, False, or empty: not said (``records.with_roles``)
INT_COLUMNS = ("set_seed", "fit_seed", "queries_cut")
FLOAT_COLUMNS = ("dpc", "run", "eval_seed", "wall_s", "peak_rss_mib")


def write_runs(records: pd.DataFrame, path: Path) -> None:
    """``records`` (``load_records``' rows, carried ones included) as CSV, one row per run sorted by cell id; dicts
    and lists as JSON; no absolute path of this machine (``provenance.shown``)."""
    frame = records.drop(columns=[c for c in ("score",) if c in records]).sort_values("cell_id")
    for column in JSON_COLUMNS:
        if column in frame:
            frame[column] = frame[column].map(lambda v: json.dumps(shown(list(v) if isinstance(v, tuple) else v),
                                                                   sort_keys=True))
    if "carried_from" in frame:
        frame["carried_from"] = frame["carried_from"].map(shown)
    atomic_write_text(path, frame[_column_order(frame.columns)].to_csv(index=False))


LEADING_COLUMNS = ("cell_id", "task", "method", "reference", "dpc", "set_seed", "fit_seed", "learner", "run",
                   "eval_seed", "metric")


def _column_order(columns) -> list[str]:
    """Who ran what first, then the metrics, then the rest by name: one order whichever rows are own or carried, so a
    re-reported study's file changes only where its runs do."""
    lead = [c for c in LEADING_COLUMNS if c in columns]
    metrics = sorted(c for c in columns if c.startswith("metric."))
    return lead + metrics + sorted(set(columns) - set(lead) - set(metrics))


def runs_file(source: Path) -> Path:
    """The ``runs.csv`` a ``--carry`` argument names: a report folder's, or the file itself."""
    path = Path(source)
    path = path / RUNS_CSV if path.is_dir() else path
    if not path.is_file():
        raise UsageError(f"--carry {source}: no {path}; carry a report folder written by `python -m benchmark "
                         f"report` (it holds {RUNS_CSV}) or the {RUNS_CSV} itself")
    return path


def read_runs(source: Path) -> pd.DataFrame:
    """A ``runs.csv`` back as ``load_records`` rows; ``carried_from`` names the file where the row did not already
    say where it came from."""
    path = runs_file(source)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"cell_id", "task", "learner", "method", "metric", "config"} - set(frame.columns)
    if missing:
        raise UsageError(f"--carry {source}: {path} lacks the columns {', '.join(sorted(missing))}; it is not a "
                         f"runs.csv written by `python -m benchmark report`")
    for column in frame.columns:
        if column in JSON_COLUMNS:
            frame[column] = frame[column].map(lambda v: json.loads(v) if v else None)
        elif column in BOOL_COLUMNS:
            frame[column] = frame[column] == "True"
        elif column in ROLE_COLUMNS:
            frame[column] = frame[column].map({"True": True, "False": False}).astype(object)
        elif column in INT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column]).astype(int)
        elif column in FLOAT_COLUMNS or column.startswith("metric."):
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="coerce")
        else:
            frame[column] = frame[column].astype(object).where(frame[column] != "", None)
    if "learner_accepts" in frame:
        frame["learner_accepts"] = frame["learner_accepts"].map(tuple)
    if "precision" in frame:
        frame["precision"] = frame["precision"].fillna("")
    frame["carried_from"] = _filled(frame.get("carried_from"), frame.index, str(path))
    return frame


def _filled(column: pd.Series | None, index, value: str) -> pd.Series:
    """A ``carried_from`` column: where a row does not already say where it came from, ``value``."""
    column = pd.Series(None, index=index, dtype=object) if column is None else column.astype(object)
    return column.where(column.notna() & (column != ""), value)


def with_carried(records: pd.DataFrame, sources: list[Path]) -> pd.DataFrame:
    """The runs folder's rows, then each carried row whose cell the folder (or an earlier source) does not hold."""
    merged = _first_wins([records] + [read_runs(source) for source in sources], ["cell_id"])
    if merged is None:
        return records
    merged.attrs = records.attrs
    return merged


def carried_fidelity(fidelity: pd.DataFrame, sources: list[Path]) -> pd.DataFrame:
    """The measured sets and each set a carried folder's ``fidelity.csv`` measured that is not measured here, sorted by
    set (so a file re-judged on another machine changes only where its numbers do)."""
    carried = [pd.read_csv(path) for path in (runs_file(s).with_name(FIDELITY_CSV) for s in sources) if path.is_file()]
    merged = _first_wins([fidelity] + carried, ["distill_cell"])
    return _sorted(fidelity if merged is None else merged, FIDELITY_KEY)


def carried_clean_scores(clean: pd.DataFrame, sources: list[Path]) -> pd.DataFrame:
    """The re-scored cells (``report.clean``), then each cell of a carried folder's ``clean-test.csv`` not
    re-scored here (its runs' predictions are not in this folder), with ``carried_from``. A carried file that removed
    another number of test rows measured another leak: refused."""
    removed, frames = set(clean["test_rows_removed"]), [clean.assign(carried_from=None)]
    for source in sources:
        path = runs_file(source).with_name(CLEAN_CSV)
        if not path.is_file():
            continue
        carried = pd.read_csv(path)
        other = set(carried.get("test_rows_removed", pd.Series(dtype=float)).dropna()) - removed
        if other:
            raise UsageError(f"--carry {source}: {path} removed {sorted(other)} test rows, this runs folder "
                             f"{sorted(removed)}: the two measured different overlaps; re-score both from one judge")
        frames.append(carried.assign(carried_from=_filled(carried.get("carried_from"), carried.index,
                                                          shown(str(path)))))
    merged = _first_wins(frames, CLEAN_KEY)
    return _sorted(clean if merged is None else merged, CLEAN_KEY)


def _sorted(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Rows in ``key`` order (an empty frame may lack the columns)."""
    return frame.sort_values(key, kind="stable", ignore_index=True) if len(frame) else frame


def _first_wins(frames: list[pd.DataFrame], key: list[str]) -> pd.DataFrame | None:
    """The rows of ``frames`` in order, a row of a later frame only where no earlier frame holds its ``key``; None
    when every frame is empty."""
    kept, seen = [], set()
    for frame in (f for f in frames if not f.empty):
        keys = list(map(tuple, frame[key].to_numpy()))
        kept.append(frame[[k not in seen for k in keys]])
        seen.update(keys)
    if not kept:
        return None
    return pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]


def digest(sources: list[Path]) -> list[str]:
    """What a report's fingerprint keeps of its carried files: their content hashes."""
    out = []
    for source in sources:
        path = runs_file(source)
        fidelity = path.with_name(FIDELITY_CSV)
        out.append(hashlib.sha256(path.read_bytes() + (fidelity.read_bytes() if fidelity.is_file() else b""))
                   .hexdigest())
    return out
