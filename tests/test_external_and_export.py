"""Bringing your own distilled sets: `export` writes any cell's sets (JSONL + datasets folders) and the
`external` method reads them back, and reads the DiLM authors' released sets from ../shared."""
import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.core.errors import UsageError
from benchmark.study.store import Store
from methods import METHODS



def test_export_then_external_gives_back_the_same_sets_and_scores(tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ntasks: [tiny-sentiment]\ndpcs: [2, 4]\nmethods: [random]\n"
                    "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    runs = tmp_path / "runs"
    assert main(["run", "--grid", str(grid), "--runs-dir", str(runs), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    assert main(["export", str(runs), "--out", str(tmp_path / "exported")]) == 0
    folder = tmp_path / "exported" / "random" / "tiny-sentiment" / "dpc_2"
    assert sorted(p.name for p in folder.iterdir()) == [
        "dataset_0.hf", "dataset_0.jsonl", "dataset_0.provenance.json",
        "dataset_1.hf", "dataset_1.jsonl", "dataset_1.provenance.json"]
    from datasets import load_from_disk

    hf = load_from_disk(str(folder / "dataset_0.hf"))
    assert hf.num_rows == 4 and set(hf.column_names) >= {"sentence", "label"}

    grid.write_text("name: g2\ntasks: [tiny-sentiment]\ndpcs: [2, 4]\n"
                    f"methods: [{{name: external, params: {{path: '{tmp_path / 'exported' / 'random'}', label: reread}}}}]\n"
                    "learners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    capsys.readouterr()
    assert main(["run", "--grid", str(grid), "--runs-dir", str(runs), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    assert "| reread |" in capsys.readouterr().out
    records = list(Store(runs).done_records("evaluate"))
    scores = {}
    for r in records:
        key = (r["config"]["dpc"], r["config"]["set_seed"])
        scores.setdefault(key, set()).add(r["metrics"]["accuracy"])
    assert len(scores) == 4 and all(len(s) == 1 for s in scores.values())  # same sets -> same scores


def test_external_errors_name_the_file_and_the_problem(tmp_path, tiny_task):
    folder = tmp_path / "tiny-sentiment" / "dpc_2"
    folder.mkdir(parents=True)
    method = METHODS.create("external", path=str(tmp_path))
    with pytest.raises(UsageError, match=r"dataset_3.json\(l\) not found"):
        method.distill(tiny_task, 2, 3)
    (folder / "dataset_0.jsonl").write_text('{"sentence": "a", "label": 0}\n{"text": "b", "label": 1}\n')
    with pytest.raises(UsageError, match=r"dataset_0.jsonl:2: missing column\(s\) sentence"):
        method.distill(tiny_task, 2, 0)
    (folder / "dataset_0.jsonl").write_text('{"sentence": "a", "label": 0}\n{"sentence": "b", "label": 1}\n')
    with pytest.raises(UsageError, match=r"expected 2 examples per class, found \{'negative': 1, 'positive': 1\}"):
        method.distill(tiny_task, 2, 0)
    with pytest.raises(UsageError, match="needs params.path"):
        METHODS.create("external").distill(tiny_task, 2, 0)


@pytest.mark.real
def test_released_dilm_sst2_sets_read_as_rt_polarity_sets(release, rt_assets):
    from benchmark.tasks import TASKS

    task = TASKS.create("rt-polarity")
    method = METHODS.create("external", path=str(release), label="DiLM (released)", source_task="sst2")
    assert method.display_name == "DiLM (released)"
    for dpc in (5, 10, 20):
        sets = [method.distill(task, dpc, seed) for seed in range(20)]
        for s in sets:
            assert s.per_class() == {"negative": dpc, "positive": dpc}
            assert s.provenance["source_file"].endswith(f"sst2/dpc_{dpc}/dataset_{sets.index(s)}.json")
        assert len({s.examples.checksum() for s in sets}) == 20  # twenty different sets
    first = json.loads((release / "sst2" / "dpc_5" / "dataset_0.json").read_text().splitlines()[0])
    assert sets[0].examples.texts[0] != () and method.distill(task, 5, 0).examples.texts[0] == (first["sentence"],)
    assert np.array_equal(method.distill(task, 5, 0).examples.labels, np.repeat([0, 1], 5))


def test_export_writes_text_sets_and_says_which_sets_it_leaves_out(tmp_path, capsys, tiny_learner_dir):
    """A runs folder with Full, Random and TDD cells: Random's sets are exported; TDD's (tensors) and Full (the
    train split) are named as left out, and the export still succeeds."""
    tdd = {"model": str(tiny_learner_dir), "seq_length": 6, "outer_steps": 2, "real_batch_size": 8, "eval_every": 2,
           "validation_size": 16, "device": "cpu"}
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ntasks: [tiny-sentiment]\ndpcs: [2]\n"
                    f"methods: [full, random, {{name: tdd, params: {json.dumps(tdd)}}}]\n"
                    "learners: [tfidf-logreg]\nn_sets: 1\nn_evals: 1\n")
    runs = tmp_path / "runs"
    assert main(["run", "--grid", str(grid), "--runs-dir", str(runs), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["export", str(runs), "--out", str(tmp_path / "exported")]) == 0
    err = capsys.readouterr().err
    assert "an embedding-level set (tensors of one model), not text" in err
    assert "the Full-data reference is the task's train split, not a set" in err
    assert [p.name for p in (tmp_path / "exported").iterdir()] == ["random"]
    assert main(["export", str(runs), "--out", str(tmp_path / "e2"), "--methods", "tdd"]) == 2
    assert "no finished text set" in capsys.readouterr().err
