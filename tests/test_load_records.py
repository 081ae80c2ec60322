"""``load_records`` from Python: one grid's runs out of a folder that several grids were run into, a clear error for a
grid the folder does not hold, and docs/records.md listing every column it returns on a real small run."""
import re
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.core.errors import UsageError
from benchmark.report.records import load_records

RECORDS_DOC = Path(__file__).resolve().parents[1] / "docs" / "records.md"
TINY = ["--tasks", "tiny-sentiment", "--learners", "tfidf-logreg", "--dpcs", "2", "--no-progress", "--no-html"]


@pytest.fixture(scope="module")
def two_grids(tmp_path_factory):
    """One runs folder, two grids: Random alone (with the preset's reference rows) and Random at DPC 2 and 4 named
    `wider`; they share Random's and Full's DPC-2 cells."""
    runs = tmp_path_factory.mktemp("records") / "runs"
    assert main(["run", str(runs), "--methods", "random", "--name", "narrow", *TINY]) == 0
    assert main(["run", str(runs), "--methods", "random", "--name", "wider", *TINY, "--dpcs", "2", "4"]) == 0
    return runs


def test_load_records_keeps_the_runs_of_the_grid_it_is_given(two_grids):
    every = load_records(two_grids)
    narrow, wider = load_records(two_grids, grid="narrow"), load_records(two_grids, grid="wider")
    assert sorted(every["cell_id"]) == sorted(wider["cell_id"])  # wider asked for every cell the folder holds
    assert set(narrow["cell_id"]) < set(wider["cell_id"])
    assert sorted(narrow["dpc"].fillna(0).unique()) == [0, 2] and sorted(wider["dpc"].fillna(0).unique()) == [0, 2, 4]
    assert len(narrow) == 1 + 2 and len(wider) == 1 + 2 * 2  # Full once (no DPC) + Random's sets per DPC
    picked = next(iter(set(narrow["cell_id"])))
    assert list(load_records(two_grids, {picked}, grid="wider")["cell_id"]) == [picked]  # both filters apply


def test_an_unknown_grid_name_says_which_grids_the_folder_holds(two_grids):
    with pytest.raises(UsageError, match=r"no grid 'wide' was run into .*: the grids it holds are 'narrow', 'wider'"):
        load_records(two_grids, grid="wide")


def test_the_docs_list_every_column_load_records_returns_with_its_units(two_grids):
    """Each column of a real run's rows is named in docs/records.md's table (the learner's recipe columns by their
    pattern, ``recipe.<param>``), and each literal name the table lists is one the rows have."""
    frame = load_records(two_grids, grid="narrow")
    documented = re.findall(r"^\| `([^`]+)` \|", RECORDS_DOC.read_text(encoding="utf-8"), flags=re.M)
    literal = {name for name in documented if "<" not in name}
    assert "recipe.<param>" in documented
    columns = set(frame.columns)
    assert columns - {c for c in columns if c.startswith("recipe.")} == literal
    assert {c for c in columns if c.startswith("recipe.")} >= {"recipe.C"}
    # the units the page states: scores as fractions, dpc a float with NaN for the Full dataset, registry names
    assert frame["metric.accuracy"].between(0, 1).all() and frame["metric.accuracy"].max() <= 1
    assert frame["dpc"].dtype == float and np.isnan(frame.loc[frame["method"] == "full", "dpc"]).all()
    assert set(frame["method"]) == {"full", "random"}
