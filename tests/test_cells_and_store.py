"""Cells (stable ids, sharing, seeds), the store (atomic records, done last, resume), the record schema."""
import json
import re

import pytest

from benchmark.study.cells import derive_seed, expand
from benchmark.cli import main
from benchmark.study.grid import Component, Grid
from benchmark.core.files import atomic_write_json
from benchmark.study.store import Store


def tiny_grid(**overrides):
    grid = Grid(name="tiny", tasks=[Component("tiny-sentiment")], dpcs=[2, 4],
                methods=[Component("full"), Component("random")], learners=[Component("tfidf-logreg")],
                n_sets=3, n_evals=2)
    for key, value in overrides.items():
        setattr(grid, key, value)
    return grid


def test_expansion_shares_work():
    cells = expand(tiny_grid())
    assert len(cells["fit"]) == 2  # one fit per (task, method) for every DPC and learner
    # full: one DPC-independent, deterministic set; random: 2 DPCs x 3 sets
    assert len(cells["distill"]) == 1 + 2 * 3
    full_runs = [c for c in cells["evaluate"] if c.distill.fit.method.name == "full"]
    random_dpc2 = [c for c in cells["evaluate"] if c.distill.fit.method.name == "random" and c.distill.dpc == 2]
    assert len(full_runs) == 2 and len(random_dpc2) == 3 * 2  # a deterministic set: n_evals runs on one set
    ids = [c.id for stage in cells.values() for c in stage]
    assert len(ids) == len(set(ids))


def test_a_seeded_method_gets_n_fits_fits_and_its_first_fit_keeps_its_ids():
    """vanilla-lm's fit is seeded (a trained generator): n_fits fits, n_sets sets from each; random's is not (one fit).
    The first fit's cells have the ids they had before n_fits existed, so finished studies resume."""
    generator = Component("vanilla-lm", (("preset", "cpu"),))
    one = expand(tiny_grid(methods=[Component("random"), generator], n_sets=2))
    three = expand(tiny_grid(methods=[Component("random"), generator], n_sets=2, n_fits=3))
    fits = sorted((c.method.name, c.fit_seed) for c in three["fit"])
    assert fits == [("random", 0), ("vanilla-lm", 0), ("vanilla-lm", 1), ("vanilla-lm", 2)]
    sets = [c for c in three["distill"] if c.fit.method.name == "vanilla-lm"]
    assert len(sets) == 3 * 2 * 2 and len({c.id for c in sets}) == 12  # fits x DPCs x sets, the same set seeds per fit
    assert sum(c.fit.method.name == "random" for c in three["distill"]) == 2 * 2
    for stage in ("fit", "distill", "evaluate"):
        first = {c.id for c in three[stage] if c.fit_cell.fit_seed == 0}
        assert first == {c.id for c in one[stage]}
    later = [c.id for c in three["evaluate"] if c.fit_cell.fit_seed == 2]
    assert later and all(i.startswith("tiny-sentiment.vanilla-lm.f2.dpc") for i in later)

    from benchmark.api import expected_cells
    from benchmark.core.labels import component_label

    label = component_label("vanilla-lm", {"preset": "cpu"})  # the report tests this method's cells per fit
    assert expected_cells(tiny_grid(methods=[Component("random"), generator], n_fits=3)).fits == {
        ("tiny-sentiment", label): 3}


def test_cell_ids_are_stable_readable_and_config_sensitive():
    a = expand(tiny_grid())["evaluate"]
    b = expand(tiny_grid())["evaluate"]
    assert [c.id for c in a] == [c.id for c in b]
    assert a[0].id.startswith("tiny-sentiment.full.dpcall.s0.tfidf-logreg.r0-")
    c = expand(tiny_grid(learners=[Component("tfidf-logreg", (("C", 2.0),))]))["evaluate"]
    assert a[0].id != c[0].id


def test_seeds_are_derived_from_coordinates_only():
    assert derive_seed("evaluate", 0, 1) == derive_seed("evaluate", 0, 1)
    assert derive_seed("evaluate", 0, 1) != derive_seed("evaluate", 1, 0)
    assert derive_seed("evaluate", 0, 0) == 1003352609  # pinned: must not change across machines/versions


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_json(tmp_path / "r.json", {"a": 1})
    atomic_write_json(tmp_path / "r.json", {"a": 2})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def run_tiny(tmp_path, *extra):
    grid_file = tmp_path / "tiny.yaml"
    grid_file.write_text("name: tiny\ntasks: [tiny-sentiment]\ndpcs: [2, 4]\nmethods: [full, random]\n"
                         "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    return main(["run", "--grid", str(grid_file), "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "results"), "--no-progress", *extra])


RECORD_KEYS = {"schema", "stage", "cell_id", "config", "started_at", "finished_at", "versions", "git", "code_version",
               "host", "task", "fit_cell", "distill_cell", "recipe", "seeds", "distilled", "metrics",
               "train_predict_s", "wall_s", "memory", "learner_family", "described", "artifacts",
               "class_weight_reason"}  # the learner left class_weight to its default, auto: why it chose "none"


def test_record_schema(tmp_path, capsys):
    assert run_tiny(tmp_path) == 0
    store = Store(tmp_path / "runs")
    records = list(store.done_records("evaluate"))
    assert len(records) == 1 + 2 * 2
    for record in records:
        assert set(record) == RECORD_KEYS
        assert record["stage"] == "evaluate" and record["schema"] == 2
        assert record["described"]["method"]["label"] and record["described"]["learner"]["family"] == record["learner_family"]
        assert set(record["config"]) == {"task", "method", "fit_seed", "dpc", "set_seed", "learner", "run", "eval_seed"}
        assert set(record["seeds"]) == {"fit", "set", "eval"} and record["seeds"]["eval"] == record["config"]["eval_seed"]
        assert 0.0 <= record["metrics"]["accuracy"] <= 1.0 and 0.0 <= record["metrics"]["macro_f1"] <= 1.0
        assert record["metrics"]["n_test"] == 12
        assert set(record["task"]["split_checksums"]) == {"train", "validation", "test"}
        assert record["versions"]["torch"] and record["versions"]["scikit-learn"] and record["versions"]["python"]
        assert set(record["git"]) == {"commit", "dirty"}
        assert record["wall_s"] >= 0 and record["memory"]["peak_rss_mib"] > 0
        assert record["recipe"] == {"ngram_max": 2, "C": 1.0, "max_iter": 1000, "class_weight": "none"}
        assert record["class_weight_reason"].startswith("auto: train classes balanced")
        cell_dir = store.cell_dir("evaluate", record["cell_id"])
        assert (cell_dir / "done").exists() and (cell_dir / "log.txt").exists()
    out = capsys.readouterr().out
    assert "| Full dataset |" in out and "tiny-sentiment DPC 4" in out
    assert (tmp_path / "results" / "leaderboard.md").read_text().startswith("### Learner: tfidf-logreg")


def test_rerun_skips_done_cells_and_redoes_unfinished_ones(tmp_path, capsys):
    assert run_tiny(tmp_path) == 0
    store = Store(tmp_path / "runs")
    victim = sorted((tmp_path / "runs" / "evaluate").iterdir())[0]
    before = {p: (p / "record.json").stat().st_mtime_ns for p in (tmp_path / "runs" / "evaluate").iterdir()}
    (victim / "done").unlink()  # as if killed between record and marker
    (victim / "partial.tmp").write_text("junk")
    capsys.readouterr()
    assert run_tiny(tmp_path) == 0
    assert "evaluate 5 cells (1 to run)" in capsys.readouterr().out
    assert (victim / "done").exists() and not (victim / "partial.tmp").exists()
    for path, mtime in before.items():
        if path != victim:
            assert (path / "record.json").stat().st_mtime_ns == mtime  # finished work is never redone
    assert len(list(store.done_records("evaluate"))) == 5


def test_a_failing_cell_is_recorded_and_the_rest_goes_on(tmp_path, capsys):
    grid_file = tmp_path / "bad.yaml"
    # a learner recipe that only fails at training time (a model that is nowhere; ranges such as C > 0 are refused
    # with the grid): every cell of that learner fails
    grid_file.write_text("name: bad\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random]\n"
                         "learners: [{name: hf-classifier, params: {model: /nonexistent-model}}]\nn_sets: 1\nn_evals: 1\n")
    code = main(["run", "--grid", str(grid_file), "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "results"), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED evaluate tiny-sentiment.random.dpc2.s0.hf-classifier.r0-" in err and "log:" in err
    store = Store(tmp_path / "runs")
    failed = next((tmp_path / "runs" / "evaluate").iterdir())
    error = json.loads((failed / "error.json").read_text())
    assert "Traceback" in error["traceback"] and not (failed / "done").exists()
    assert len(list(store.done_records("distill"))) == 1  # the parents finished


def test_a_failed_fit_is_one_failure_and_its_sets_and_runs_wait_for_the_next_run(tmp_path, capsys, monkeypatch):
    """The sets and runs below a fit that failed are not run (no cascade of "parent not done" failures hiding the
    cause): the run names the one failure, exits 1, and the next run does the rest."""
    from methods.random_subset import RandomSubset

    def broken(self, task, ctx):
        raise OSError("disk full")

    monkeypatch.setattr(RandomSubset, "fit", broken)
    assert run_tiny(tmp_path) == 1
    captured = capsys.readouterr()
    assert captured.err.count("FAILED") == 1 and "FAILED fit tiny-sentiment.random.f0-" in captured.err
    assert "OSError: disk full" in captured.err
    assert "distill {'skipped': 0, 'parent not done': 4, 'done': 1}" in captured.out  # random: 2 DPCs x 2 sets
    assert "evaluate {'skipped': 0, 'parent not done': 4, 'done': 1}" in captured.out
    assert sorted(p.name.split(".")[1] for p in (tmp_path / "runs" / "distill").iterdir()) == ["full"]
    monkeypatch.undo()
    assert run_tiny(tmp_path) == 0
    assert "evaluate {'skipped': 1, 'done': 4}" in capsys.readouterr().out


def test_a_grid_whose_every_fit_failed_still_writes_a_leaderboard_of_holes(tmp_path, capsys, monkeypatch):
    """Nothing below the fits ran, so there is no evaluate record or failure at all: the report shows every cell as
    missing instead of crashing."""
    from methods.random_subset import RandomSubset

    def broken(self, task, ctx):
        raise OSError("disk full")

    monkeypatch.setattr(RandomSubset, "fit", broken)
    grid_file = tmp_path / "g.yaml"
    grid_file.write_text("name: g\ntasks: [tiny-sentiment]\ndpcs: [2, 4]\nmethods: [random]\n"
                         "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    assert main(["run", "--grid", str(grid_file), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 1
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "Cells: 0 with results, 0 failed (fail), 2 missing (-), 0 not applicable (n/a)." in markdown


@pytest.mark.parametrize("content, message", [
    ("tasks: [tiny-sentiment]\nmethods: [random]\nlearners: [tfidf-logreg]\n", "missing key 'dpcs'"),
    ("tasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random]\nlearners: [tfidf-logreg]\nn_set: 3\n",
     "unknown key(s) n_set"),
    ("tasks: [tiny-sentiment]\ndpcs: [0]\nmethods: [random]\nlearners: [tfidf-logreg]\n",
     "key 'dpcs[0]' must be a positive integer"),
    ("tasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [{nme: random}]\nlearners: [tfidf-logreg]\n", "methods[0] must be"),
    ("tasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random]\nlearners: [{name: tfidf-logreg, params: {Cee: 1}}]\n",
     "learner 'tfidf-logreg': unknown parameter 'Cee'. Parameters: C, class_weight, max_iter, ngram_max"),
    ("tasks: [tiny-sentiment\n", "not valid YAML"),
])
def test_malformed_grid_files_fail_with_the_file_and_key(tmp_path, capsys, content, message):
    grid_file = tmp_path / "g.yaml"
    grid_file.write_text(content)
    assert main(["run", "--grid", str(grid_file), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(grid_file) in err
    assert not (tmp_path / "runs").exists()


def test_status_and_dry_run(tmp_path, capsys):
    assert run_tiny(tmp_path) == 0
    grid = tmp_path / "tiny.yaml"
    grid.write_text(grid.read_text().replace("n_sets: 2", "n_sets: 3"))
    runs = str(tmp_path / "runs")
    before = sorted(p.name for p in (tmp_path / "runs" / "evaluate").iterdir())
    capsys.readouterr()
    assert main(["run", "--grid", str(grid), "--runs-dir", runs, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"distill +7 cells, +2 to run", out) and re.search(r"evaluate +7 cells, +2 to run", out)
    assert re.search(r"evaluate +7 cells, +2 to run, ~[0-9.]+ h from 2 finished counterparts\n", out)
    assert main(["run", "--grid", str(grid), "--runs-dir", runs, "--dry-run", "--dpcs", "3"]) == 0
    out = capsys.readouterr().out  # no DPC-3 cell has finished: the nearest finished DPC's times, scaled
    assert re.search(r"evaluate +\d+ cells, +3 to run, ~[0-9.]+ h from 3 finished counterparts \(3 scaled from "
                     r"another DPC\)\n", out)
    assert sorted(p.name for p in (tmp_path / "runs" / "evaluate").iterdir()) == before  # nothing written
    failing = next((tmp_path / "runs" / "evaluate").iterdir())
    (failing / "done").unlink()
    (failing / "error.json").write_text(json.dumps({"error": "ValueError: broken\nmore"}))
    assert main(["status", "--grid", str(grid), "--runs-dir", runs]) == 0
    out = capsys.readouterr().out
    assert "evaluate done 4  running 0  failed 1  pending 2" in out
    assert f"FAILED evaluate {failing.name}: ValueError: broken" in out and "log.txt" in out
    for flags in (["--set", "n_sets=2"], ["--n-sets", "2"]):  # status sees the grid `run` would run with these
        assert main(["status", "--grid", str(grid), "--runs-dir", runs, *flags]) == 0
        assert "evaluate done 4  running 0  failed 1  pending 0" in capsys.readouterr().out


def test_set_overrides_reach_the_cells_and_name_the_problem(tmp_path, capsys):
    from benchmark.study.grid import load_grid

    grid = load_grid("demo", ["learners.minilm.params.steps=7", "n_sets=3", "dpcs=[5, 10]",
                              "methods.random.params={}"])
    assert grid.n_sets == 3 and grid.dpcs == [5, 10]
    assert [c.kwargs for c in grid.learners] == [{"precision": "auto", "steps": 7}, {}]
    assert "--set learners.minilm.params.steps=7" in grid.source
    for bad, message in [("nsets=3", "unknown grid key 'nsets'. Did you mean 'n_sets'?"),
                         ("learners.minilmm.params.steps=3", "no entry named 'minilmm' in learners. Did you mean 'minilm'?"),
                         ("n_sets", "expected KEY=VALUE"),
                         ("n_sets=0", "key 'n_sets' must be a positive integer"),
                         ("n_fits=0", "key 'n_fits' must be a positive integer"),
                         ("nfits=2", "unknown grid key 'nfits'. Did you mean 'n_fits'?")]:
        assert main(["run", "--set", bad, "--runs-dir", str(tmp_path / "runs")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_family_recipes_apply_to_every_learner_of_the_family(tmp_path):
    from benchmark.core.errors import UsageError
    from benchmark.study.grid import load_grid

    path = tmp_path / "g.yaml"
    base = ("name: g\ntasks: [tiny-sentiment]\ndpcs: [1]\nmethods: [random]\n"
            "learners: [minilm, {name: mpnet-base, params: {steps: 10}}, tfidf-logreg]\n")
    path.write_text(base + "recipes: {fine-tuned: {steps: 50, lr: 5.0e-5}, non-neural: {C: 2.0}}\n")
    learners = {c.name: c.kwargs for c in load_grid(str(path)).learners}
    assert learners == {"minilm": {"steps": 50, "lr": 5e-5}, "mpnet-base": {"steps": 10, "lr": 5e-5},
                        "tfidf-logreg": {"C": 2.0}}  # the learner's own entry wins over its family's
    path.write_text(base + "recipes: {fine-tuned: {step: 50}}\n")
    with pytest.raises(UsageError, match=r"g\.yaml: recipes\.fine-tuned: step is not a recipe parameter"):
        load_grid(str(path))
    path.write_text(base + "recipes: {finetuned: {steps: 50}}\n")
    with pytest.raises(UsageError, match=r"unknown learner family 'finetuned'; families: fine-tuned"):
        load_grid(str(path))


def test_preset_methods_put_their_resolved_config_in_the_fit_cell_id(monkeypatch, request):
    from benchmark.study.cells import FitCell
    from benchmark.study.grid import Component
    from dilm import config as dilm_config

    task = Component("rt-polarity")
    cpu = FitCell(task, Component("dilm", (("preset", "cpu"),)))
    assert cpu.config["method_config"]["outer_loops"] == dilm_config.PRESETS["cpu"].outer_loops
    assert "method_config" not in FitCell(task, Component("random")).config  # plain methods: ids unchanged
    before = cpu.id
    from dataclasses import replace

    monkeypatch.setitem(dilm_config.PRESETS, "cpu", replace(dilm_config.PRESETS["cpu"], outer_loops=11))
    from benchmark.study.cells import _resolved_config

    _resolved_config.cache_clear()  # resolved once per process; a preset edited in place needs a fresh one
    request.addfinalizer(_resolved_config.cache_clear)  # and the real preset again after this test
    assert FitCell(task, Component("dilm", (("preset", "cpu"),))).id != before  # a changed preset: a new cell


def test_a_damaged_record_is_set_aside_by_run_and_skipped_by_report(tmp_path, capsys):
    """A done cell whose record.json is truncated: `report` skips it and names the file; `run` moves it aside,
    says so, and makes the cell again (exit 0); nothing else is redone."""
    assert run_tiny(tmp_path) == 0
    victim = sorted((tmp_path / "runs" / "evaluate").iterdir())[0]
    whole = json.loads((victim / "record.json").read_text())
    truncated = (victim / "record.json").read_text()[:100]
    (victim / "record.json").write_text(truncated)  # a partial copy from a cluster, or a full disk
    capsys.readouterr()
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "Skipped 1 damaged record(s)" in (tmp_path / "out" / "leaderboard.md").read_text()
    assert str(victim / "record.json") in (tmp_path / "out" / "leaderboard.md").read_text()
    assert run_tiny(tmp_path) == 0
    captured = capsys.readouterr()
    assert "evaluate 5 cells (1 to run)" in captured.out and f"{victim.name} had a damaged record.json" in captured.err
    assert (tmp_path / "runs" / "damaged" / "evaluate" / f"{victim.name}.record.json").read_text() == truncated
    assert json.loads((victim / "record.json").read_text())["metrics"] == whole["metrics"]  # made again, same seeds


def test_writing_a_default_out_names_the_same_cells(tmp_path):
    """`minilm` and `{name: minilm, params: {steps: 200, lr: '1e-4'}}` (the defaults; YAML reads 1e-4 as text) are
    one learner: the same cells, so the same work never runs twice; a changed value is another learner."""
    from benchmark.study.checks import check_grid
    from benchmark.study.grid import load_grid

    def eval_ids(learner: str) -> set[str]:
        (tmp_path / "g.yaml").write_text("name: g\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random]\n"
                                         f"learners: [{learner}]\nn_sets: 1\nn_evals: 1\n")
        return {c.id for c in expand(check_grid(load_grid(str(tmp_path / "g.yaml"), []), load_data=False))["evaluate"]}

    plain = eval_ids("minilm")
    assert eval_ids("{name: minilm, params: {steps: 200, lr: 1e-4, max_length: 64}}") == plain
    assert eval_ids("{name: minilm, params: {steps: 201}}") != plain


def test_artifact_names_are_unique_below_their_kind(tmp_path, monkeypatch):
    """A shared build is named by its cache kind and its folder or file; candidate chunks, deeper down, keep their
    path below the kind's sub-folder, so two generators' chunk00000.json never share a name (nor their seconds)."""
    from benchmark.core.cache import artifact_ledger, file_build_seconds, note_artifact

    monkeypatch.setenv("DILM_BENCH_ARTIFACTS", str(tmp_path))
    stage1 = tmp_path / "dilm" / "stage1" / "rt-polarity.smollm2.abc"
    embeddings = tmp_path / "embeddings" / "rt-polarity.minilm.npy"
    chunks = [tmp_path / "dilm" / "candidates" / f"{g}.d1" / "seed0" / "class1" / "chunk00000.json" for g in "ab"]
    file_build_seconds(chunks[0], 12.5)
    with artifact_ledger() as entries:
        for path in (stage1, embeddings, *chunks):
            note_artifact(path, False, file_build_seconds(path))
    assert [e["artifact"] for e in entries] == ["dilm/rt-polarity.smollm2.abc", "embeddings/rt-polarity.minilm.npy",
                                                "dilm/a.d1/seed0/class1/chunk00000.json",
                                                "dilm/b.d1/seed0/class1/chunk00000.json"]
    assert [e["build_s"] for e in entries] == [None, None, 12.5, None]
