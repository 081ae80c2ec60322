"""`export` keys files by the task's declared name (#51): two custom tasks write two folders, two specs sharing a
name get a digest each, `--tasks` takes declared names, and no file of another set is ever overwritten."""
import json
import os

import pytest

from benchmark.authoring.testing import NEGATIVE, POSITIVE
from benchmark.cli import main


def custom_task(folder, name, offset=0):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(f"{NEGATIVE[i % 6]} {i + offset}", "bad") for i in range(20)] + \
        [(f"{POSITIVE[i % 6]} {i + offset}", "good") for i in range(20)]
    (folder / "data.csv").write_text("review,stars\n" + "\n".join(f'"{t}",{y}' for t, y in rows) + "\n")
    (folder / "task.yaml").write_text(json.dumps({"name": name, "path": "data.csv", "text_fields": ["review"],
                                                  "label_field": "stars"}))
    return str(folder / "task.yaml")


def run(tmp_path, *specs):
    return main(["run", "--tasks", *specs, "--methods", "random", "--learners", "tfidf-logreg", "--dpcs", "2",
                 "--n-sets", "2", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "board"),
                 "--no-progress"])


def jsonl_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
                  if f.endswith(".jsonl"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))


def test_two_custom_tasks_export_to_two_folders_by_their_declared_names(tmp_path, capsys):
    assert run(tmp_path, custom_task(tmp_path / "a", "reviews-a"), custom_task(tmp_path / "b", "reviews-b", 100)) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert "wrote 4 sets" in capsys.readouterr().out
    assert jsonl_files(tmp_path / "out") == [f"random/reviews-{t}/dpc_2/dataset_{s}.jsonl" for t in "ab" for s in (0, 1)]
    provenance = json.loads((tmp_path / "out" / "random" / "reviews-b" / "dpc_2" / "dataset_1.provenance.json").read_text())
    assert provenance["task"] == "reviews-b" and provenance["config"]["set_seed"] == 1
    assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "only-b"), "--tasks", "reviews-b"]) == 0
    assert jsonl_files(tmp_path / "only-b") == [f"random/reviews-b/dpc_2/dataset_{s}.jsonl" for s in (0, 1)]
    assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "all"), "--tasks", "custom"]) == 0
    assert len(jsonl_files(tmp_path / "all")) == 4  # the registry's name still picks every custom task
    capsys.readouterr()
    assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0  # the same cells again


def test_two_specs_sharing_a_name_get_a_digest_each(tmp_path, capsys):
    """Run apart (one grid may not hold both: its table would merge them), into one runs folder."""
    assert run(tmp_path, custom_task(tmp_path / "a", "reviews")) == 0
    assert run(tmp_path, custom_task(tmp_path / "b", "reviews", 100)) == 0
    assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    folders = sorted(p.name for p in (tmp_path / "out" / "random").iterdir())
    assert len(folders) == 2 and all(f.startswith("reviews-") and len(f) == len("reviews-") + 8 for f in folders)
    assert len(jsonl_files(tmp_path / "out")) == 4


def test_export_never_overwrites_another_cells_set(tmp_path, capsys):
    assert run(tmp_path, custom_task(tmp_path / "a", "reviews")) == 0
    assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    first = (tmp_path / "out" / "random" / "reviews" / "dpc_2" / "dataset_0.jsonl").read_bytes()
    # another spec of the same name, exported alone into the same folder: its sets would land on the first's
    (tmp_path / "runs2").mkdir()
    assert main(["run", "--tasks", custom_task(tmp_path / "b", "reviews", 100), "--methods", "random", "--learners",
                 "tfidf-logreg", "--dpcs", "2", "--runs-dir", str(tmp_path / "runs2"), "--out",
                 str(tmp_path / "board2"), "--no-progress"]) == 0
    before = sorted((tmp_path / "out").rglob("*"))
    capsys.readouterr()
    assert main(["export", str(tmp_path / "runs2"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: export: {tmp_path / 'out' / 'random' / 'reviews' / 'dpc_2' / 'dataset_0.jsonl'} "
                          "already holds the set of cell reviews.random.dpc2.s0-")
    assert "export to another --out, or remove that file first" in err
    assert sorted((tmp_path / "out").rglob("*")) == before
    assert (tmp_path / "out" / "random" / "reviews" / "dpc_2" / "dataset_0.jsonl").read_bytes() == first


@pytest.mark.parametrize("key", ["task", "method"])
def test_export_refuses_a_record_whose_names_are_not_safe(tmp_path, capsys, key):
    """A record edited by hand (or written before names were checked) cannot make export write outside --out:
    each unsafe name exits 2 naming the rule and the record, and nothing is written."""
    from test_safety_paths import BAD_NAMES, RULE_WORDS, tree

    assert run(tmp_path, custom_task(tmp_path / "a", "reviews")) == 0
    records = sorted((tmp_path / "runs" / "distill").glob("*/record.json"))
    for bad in BAD_NAMES.values():
        for record in records:
            body = json.loads(record.read_text())
            (body["task"] if key == "task" else body["config"]["method"])["name"] = bad
            record.write_text(json.dumps(body))
        before = tree(tmp_path)
        capsys.readouterr()
        assert main(["export", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"{key} name" in err and "is not a safe name" in err and RULE_WORDS in err and "distill record" in err
        assert tree(tmp_path) == before and not os.path.exists("/tmp/escaped-abs")
