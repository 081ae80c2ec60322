"""Damaged files heal (#51): a cached artifact (split indices, embeddings, a built folder, a candidate chunk, a
checkpoint) that does not load is moved aside with a one-line warning and made again, and the re-run's scores equal
a clean run's; a record.json or error.json that parses but lacks its keys is damaged like a cut one."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.study.store import Store

GRID = "name: heal\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [{methods}]\nlearners: [{learners}]\nn_sets: 2\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))
    as_a_new_process(monkeypatch)  # the tasks' splits are read from this cache, not from an earlier test's
    return tmp_path / "cache"


def run(tmp_path, runs: str, methods="random", learners="tfidf-logreg", *extra) -> int:
    (tmp_path / "grid.yaml").write_text(GRID.format(methods=methods, learners=learners))
    return main(["run", "--grid", str(tmp_path / "grid.yaml"), "--runs-dir", str(tmp_path / runs),
                 "--out", str(tmp_path / runs / "out"), "--no-progress", *extra])


def as_a_new_process(monkeypatch) -> None:
    """Forget the tasks this process loaded (their splits are read once per process), as a re-run would."""
    import benchmark.tasks

    monkeypatch.setattr(benchmark.tasks, "_LOADED", {})


def scores(runs: Path) -> dict:
    """Each evaluate cell's metrics, by cell id (the same grid in two runs folders has the same ids)."""
    return {r["cell_id"]: r["metrics"] for r in Store(runs).done_records("evaluate")}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_truncated_split_indices_are_set_aside_and_made_again(tmp_path, cache, capsys, monkeypatch):
    assert run(tmp_path, "clean") == 0
    saved = sorted((cache / "splits").glob("*.npz"))  # the test split's and the validation split's
    for path in saved:
        truncate(path)  # BadZipFile / EOFError, which the old reader let through
    capsys.readouterr()
    as_a_new_process(monkeypatch)
    assert run(tmp_path, "again") == 0
    err = capsys.readouterr().err
    assert all(f"damaged cache file {path}: does not load" in err for path in saved) and len(saved) == 2
    assert len(list((cache / "splits").glob("*.damaged-*"))) == 2
    assert scores(tmp_path / "again") == scores(tmp_path / "clean") and len(scores(tmp_path / "clean")) == 2
    for path in saved:
        with np.load(path) as whole:  # made again, whole
            assert len(whole["kept"]) + len(whole["held_out"]) > 0


def test_split_indices_of_the_wrong_size_are_set_aside(tmp_path, cache, capsys, monkeypatch):
    assert run(tmp_path, "clean") == 0
    saved = sorted((cache / "splits").glob("*.npz"))[0]
    np.savez(saved, kept=np.arange(3), held_out=np.arange(2))  # a whole file, of other data
    as_a_new_process(monkeypatch)
    assert run(tmp_path, "again") == 0
    assert "does not load (ValueError: 3 + 2 indices for" in capsys.readouterr().err
    assert scores(tmp_path / "again") == scores(tmp_path / "clean")


@pytest.mark.real
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_embeddings_are_set_aside_and_computed_again(tmp_path, cache, capsys, monkeypatch, minilm_assets,
                                                           damage):
    assert run(tmp_path, "clean", methods="herding") == 0
    (saved,) = (cache / "embeddings").glob("*.npy")
    truncate(saved) if damage == "truncated" else saved.write_bytes(b"\x93NUMPY garbage" * 10)
    capsys.readouterr()
    as_a_new_process(monkeypatch)
    assert run(tmp_path, "again", methods="herding") == 0
    err = capsys.readouterr().err
    assert f"damaged cache file {saved}: does not load" in err
    assert len(list((cache / "embeddings").glob("*.damaged-*"))) == 1 and np.load(saved).shape[1] == 384
    assert scores(tmp_path / "again") == scores(tmp_path / "clean")


def test_an_empty_record_is_damaged_and_its_cell_runs_again(tmp_path, cache, capsys):
    """``{}`` parses but holds nothing: `report` skips it, `run` moves it aside and makes the cell again."""
    assert run(tmp_path, "runs") == 0
    before = scores(tmp_path / "runs")
    victim = sorted((tmp_path / "runs" / "evaluate").iterdir())[0]
    (victim / "record.json").write_text("{}")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    assert "Skipped 1 damaged record(s)" in (tmp_path / "report" / "leaderboard.md").read_text()
    assert run(tmp_path, "runs") == 0
    err = capsys.readouterr().err
    assert f"evaluate cell {victim.name} had a damaged record.json (not whole JSON, or without its keys)" in err
    assert (tmp_path / "runs" / "damaged" / "evaluate" / f"{victim.name}.record.json").read_text() == "{}"
    assert scores(tmp_path / "runs") == before


@pytest.mark.parametrize("content", ["{broken", "{}", '{"cell_id": "no error"}', "\xff\xfe"])
def test_a_damaged_error_json_is_set_aside_by_status_and_the_cell_runs_again(tmp_path, cache, capsys, content):
    assert run(tmp_path, "runs") == 0
    before = scores(tmp_path / "runs")
    victim = sorted((tmp_path / "runs" / "evaluate").iterdir())[0]
    (victim / "done").unlink()
    (victim / "record.json").unlink()
    (victim / "error.json").write_text(content, encoding="latin-1")  # a failure whose record was cut
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0  # skipped, not a crash
    capsys.readouterr()
    assert main(["status", "--grid", str(tmp_path / "grid.yaml"), "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    moved = tmp_path / "runs" / "damaged" / "evaluate" / f"{victim.name}.error.json"
    assert f"unknown: its error.json was damaged (moved to {moved})" in out
    assert moved.read_bytes() == content.encode("latin-1") and not (victim / "error.json").exists()
    assert run(tmp_path, "runs") == 0
    assert scores(tmp_path / "runs") == before


def test_a_built_folder_that_no_longer_loads_is_set_aside_and_built_again(tmp_path, caplog):
    from benchmark.core.cache import load_built

    builds = []

    def build(staging: Path) -> None:
        builds.append(staging)
        (staging / "set.json").write_text(json.dumps({"texts": ["a", "b"]}))

    def load(folder: Path) -> dict:
        return json.loads((folder / "set.json").read_text())

    target = tmp_path / "tdd" / "task.dpc2.s0.abc"
    assert load_built(target, "set.json", build, load) == {"texts": ["a", "b"]} and len(builds) == 1
    assert load_built(target, "set.json", build, load) == {"texts": ["a", "b"]} and len(builds) == 1  # reused
    (target / "set.json").write_text('{"texts": ["a"')  # cut
    with caplog.at_level(logging.WARNING, logger="benchmark.cache"):
        assert load_built(target, "set.json", build, load) == {"texts": ["a", "b"]}
    assert len(builds) == 2 and f"damaged cache file {target}: does not load (JSONDecodeError" in caplog.text
    (aside,) = target.parent.glob("task.dpc2.s0.abc.damaged-*")
    assert (aside / "set.json").read_text() == '{"texts": ["a"'


@pytest.mark.real
def test_a_damaged_candidate_chunk_is_sampled_again(tmp_path, caplog, tiny_generator_dir):
    from dilm.candidates import candidate_texts
    from dilm.generator import Generator

    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    first = candidate_texts(generator, 1, 5, 10, 0.95, seed=3, max_retries=2, cache_dir=tmp_path)
    (chunk,) = tmp_path.glob("seed3/class1/chunk*.json")
    truncate(chunk)
    with caplog.at_level(logging.WARNING, logger="dilm.durable"):
        again = candidate_texts(generator, 1, 5, 10, 0.95, seed=3, max_retries=2, cache_dir=tmp_path)
    assert again == first and f"damaged file {chunk}: does not load (JSONDecodeError" in caplog.text
    assert len(list(chunk.parent.glob("chunk00000.json.damaged-*"))) == 1
    assert [tuple(t) for t in json.loads(chunk.read_text())][:5] == first


from test_dilm import tiny_generator_dir  # noqa: E402,F401  (the 1-layer random Llama with SmolLM2's tokenizer)
