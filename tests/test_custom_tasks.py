"""Your own data as a task: CSV, JSONL and save_to_disk folders declared in a YAML, usable from the CLI and
grid files; bad files fail with the file, line or column named and nothing written."""
import json

import pytest

from benchmark.cli import main
from benchmark.core.errors import UsageError
from benchmark.study.store import Store
from benchmark.tasks import TASKS
from benchmark.authoring.testing import NEGATIVE, POSITIVE


def write_csv(path, rows, header="review,stars"):
    path.write_text(header + "\n" + "\n".join(f'"{t}",{label}' for t, label in rows) + "\n", encoding="utf-8")


def sample_rows(n=30):
    return [(f"{NEGATIVE[i % 6]} {i}", "bad") for i in range(n)] + [(f"{POSITIVE[i % 6]} {i}", "good") for i in range(n)]


def spec(tmp_path, **extra):
    data = {"name": "my-reviews", "path": "reviews.csv", "text_fields": ["review"], "label_field": "stars", **extra}
    (tmp_path / "task.yaml").write_text(json.dumps(data))
    return str(tmp_path / "task.yaml")


def test_csv_task_from_the_cli_and_from_a_grid(tmp_path, capsys):
    write_csv(tmp_path / "reviews.csv", sample_rows())
    task = TASKS.create("custom", spec=spec(tmp_path))
    assert task.name == "my-reviews" and task.label_names == ("bad", "good") and sum(task.splits.sizes().values()) == 60
    assert main(["run", "--tasks", str(tmp_path / "task.yaml"), "--methods", "random", "--learners", "tfidf-logreg",
                 "--dpcs", "2", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "my-reviews DPC 2" in capsys.readouterr().out
    (tmp_path / "grid.yaml").write_text("tasks: [task.yaml]\ndpcs: [3]\nmethods: [random]\nlearners: [tfidf-logreg]\n")
    assert main(["run", "--grid", str(tmp_path / "grid.yaml"), "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert {r["task"]["name"] for r in Store(tmp_path / "runs").done_records("evaluate")} == {"my-reviews"}


def test_jsonl_pairs_save_to_disk_and_a_given_test_split(tmp_path):
    rows = [{"q1": f"question {i}", "q2": f"other {i}", "dup": i % 2} for i in range(40)]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    from datasets import Dataset

    Dataset.from_list(rows[:10]).save_to_disk(str(tmp_path / "test_folder"))
    (tmp_path / "pairs.yaml").write_text(json.dumps({"name": "pairs", "path": "pairs.jsonl", "text_fields": ["q1", "q2"],
                                                     "label_field": "dup", "label_names": ["0", "1"],
                                                     "test_path": "test_folder", "metric": "acc_and_f1"}))
    task = TASKS.create("custom", spec=str(tmp_path / "pairs.yaml"))
    assert task.text_fields == ("q1", "q2") and task.metric == "acc_and_f1"
    assert len(task.splits.test) == 10 and task.splits.test.texts[0] == ("question 0", "other 0")
    assert len(task.splits.train) + len(task.splits.validation) == 40


@pytest.mark.parametrize("content, extra, message", [
    ("text,stars\nfine,good\n", {}, "reviews.csv: missing column(s) review; the file has text, stars"),
    ('review,stars\n"great",good\n"",bad\n', {}, "reviews.csv:3: empty text in column review"),
    ('review,stars\n"great",good\n"meh",okay\n', {"label_names": ["bad", "good"]},
     "reviews.csv:3: label 'okay' is not one of bad, good"),
    (b'review,stars\n"caf\xe9",good\n', {}, "reviews.csv:2: not UTF-8"),
    ('review,stars\n"great",good\n"dull", \n', {}, "reviews.csv:3: empty label in column stars"),
])
def test_bad_files_name_the_file_line_or_column(tmp_path, content, extra, message):
    target = tmp_path / "reviews.csv"
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UsageError) as info:
        TASKS.create("custom", spec=spec(tmp_path, **extra)).splits
    assert message in str(info.value)


def test_a_spreadsheet_export_with_a_byte_order_mark_and_padded_labels_reads_as_written(tmp_path):
    """Excel writes CSV with a UTF-8 byte-order mark (before the first column's name) and cells may carry spaces:
    the columns are found and "good " is the class "good"."""
    rows = [(t, label + (" " if i % 2 else "")) for i, (t, label) in enumerate(sample_rows())]
    (tmp_path / "reviews.csv").write_text("review,stars\n" + "\n".join(f'"{t}",{label}' for t, label in rows) + "\n",
                                          encoding="utf-8-sig")
    assert (tmp_path / "reviews.csv").read_bytes().startswith(b"\xef\xbb\xbfreview")
    task = TASKS.create("custom", spec=spec(tmp_path))
    assert task.label_names == ("bad", "good")
    examples = task.load_examples()
    assert len(examples) == 60 and examples.class_counts(2).tolist() == [30, 30]


def test_a_tsv_file_and_a_json_array_read_like_a_csv(tmp_path):
    """The same rows as TSV and as a JSON array of objects give the task the CSV gives; a JSON array holding a
    non-object names its item."""
    rows = sample_rows()
    write_csv(tmp_path / "reviews.csv", rows)
    (tmp_path / "reviews.tsv").write_text("review\tstars\n" + "".join(f"{t}\t{label}\n" for t, label in rows))
    (tmp_path / "reviews.json").write_text(json.dumps([{"review": t, "stars": label} for t, label in rows], indent=1))
    loaded = {}
    for name in ("reviews.csv", "reviews.tsv", "reviews.json"):
        task = TASKS.create("custom", spec=spec(tmp_path, path=name))
        loaded[name] = (task.label_names, task.load_examples().checksum())
    assert len(set(loaded.values())) == 1, loaded
    (tmp_path / "reviews.json").write_text(json.dumps([{"review": "fine", "stars": "good"}, "a bare string"]))
    with pytest.raises(UsageError, match=r"reviews.json:item 1: not a JSON object"):
        TASKS.create("custom", spec=spec(tmp_path, path="reviews.json")).load_examples()


def test_class_indices_read_as_the_named_classes_and_json_lines_may_end_in_json(tmp_path):
    """Labels saved as datasets' ClassLabel ints (0..k-1) with label_names given read as those classes, from a
    JSON Lines file named .json (what ``Dataset.to_json`` writes); digits that are themselves the names match by
    name; an index out of range names both ways of giving labels."""
    rows = sample_rows()
    write_csv(tmp_path / "reviews.csv", rows)
    named = TASKS.create("custom", spec=spec(tmp_path, label_names=["bad", "good"])).load_examples()
    (tmp_path / "ints.json").write_text("".join(json.dumps({"review": t, "stars": ["bad", "good"].index(label)}) + "\n"
                                                for t, label in rows))
    indexed = TASKS.create("custom", spec=spec(tmp_path, path="ints.json", label_names=["bad", "good"]))
    assert indexed.load_examples().checksum() == named.checksum()
    stars = TASKS.create("custom", spec=spec(tmp_path, path="ints.json", label_names=["1", "0"]))
    assert list(stars.load_examples().labels[:3]) == [1, 1, 1]  # "0" is a name: by name, not by position
    # a given test split is read the same way as the train file: indices there and names here fail, naming the row
    (tmp_path / "test.csv").write_text('review,stars\n"fine",good\n')
    with pytest.raises(UsageError, match=r"ints.json:1: label '0' is not one of bad, good"):
        TASKS.create("custom", spec=spec(tmp_path, path="ints.json", test_path="test.csv",
                                         label_names=["bad", "good"])).load_examples()
    (tmp_path / "test.json").write_text(json.dumps({"review": "fine", "stars": 1}) + "\n")
    both = TASKS.create("custom", spec=spec(tmp_path, path="ints.json", test_path="test.json", label_names=["bad", "good"]))
    assert both.load_given_test().labels.tolist() == [1]
    (tmp_path / "ints.json").write_text(json.dumps({"review": "fine", "stars": 2}) + "\n")
    with pytest.raises(UsageError, match=r"ints.json:1: label '2' is not one of bad, good .*an index 0..1"):
        TASKS.create("custom", spec=spec(tmp_path, path="ints.json", label_names=["bad", "good"])).load_examples()


def test_too_few_examples_for_the_dpc_and_bad_specs_fail_before_anything_is_written(tmp_path, capsys):
    write_csv(tmp_path / "reviews.csv", sample_rows(30))
    code = main(["run", "--tasks", spec(tmp_path), "--methods", "random", "--learners", "tfidf-logreg",
                 "--dpcs", "50", "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and "DPC 50 is larger than class 'bad' of task 'my-reviews'" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("name: x\npath: reviews.csv\ntext_field: [review]\n")
    assert main(["run", "--tasks", str(tmp_path / "bad.yaml"), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) text_field" in err and "missing key(s) label_field, text_fields" in err
    assert not (tmp_path / "runs").exists()


def test_a_task_too_small_to_split_exits_2_and_states_the_minimum(tmp_path, capsys):
    write_csv(tmp_path / "reviews.csv", sample_rows(2))  # 4 rows: too few for a stratified 10% test split
    code = main(["run", "--tasks", spec(tmp_path), "--methods", "random", "--learners", "tfidf-logreg",
                 "--dpcs", "1", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "task 'my-reviews', test split: 4 rows are too few" in err
    assert "needs at least 11 rows and 2 per class" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_the_dpc_error_names_the_class_that_limits_the_dpc(tmp_path, capsys):
    rows = [(f"{NEGATIVE[i % 6]} {i}", "bad") for i in range(40)] + [(f"{POSITIVE[i % 6]} {i}", "good") for i in range(15)]
    write_csv(tmp_path / "reviews.csv", rows)
    task = TASKS.create("custom", spec=spec(tmp_path))
    bad, good = task.splits.train.class_counts(2)
    code = main(["run", "--tasks", spec(tmp_path), "--methods", "random", "--learners", "tfidf-logreg",
                 "--dpcs", str(bad + 1), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and f"too few: 'bad' ({bad}), 'good' ({good})" in err
    assert f"at most {good} (the size of class 'good', the smallest)" in err


def test_a_datasetdict_folder_names_its_splits_and_numeric_labels_sort_as_numbers(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [{"review": f"text {i}", "stars": [2, 10, 1][i % 3]} for i in range(60)]
    DatasetDict({"train": Dataset.from_list(rows), "test": Dataset.from_list(rows[:9])}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(UsageError, match=r"dd: a DatasetDict \(splits train, test\); set path to one split's folder"):
        TASKS.create("custom", spec=spec(tmp_path, path="dd")).splits
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="not one written by datasets' save_to_disk"):
        TASKS.create("custom", spec=spec(tmp_path, path="plain")).splits
    task = TASKS.create("custom", spec=spec(tmp_path, path="dd/train"))
    assert task.label_names == ("1", "2", "10") and sum(task.splits.sizes().values()) == 60


def test_a_custom_tasks_cells_are_its_files_not_their_path(tmp_path):
    """The same spec and data in two folders (a clone, a cluster's mount) make the same cell ids, named after the
    task; changed data makes new ones. A grid's own spec stays relative to the grid file under overrides."""
    import shutil

    from benchmark.study.cells import expand
    from benchmark.study.grid import load_grid

    def ids(folder):
        grid = folder / "grid.yaml"
        grid.write_text("name: g\ntasks: [task.yaml]\ndpcs: [2]\nmethods: [random]\nlearners: [tfidf-logreg]\n")
        cells = expand(load_grid(str(grid), overrides={"learners": ["tfidf-logreg"]}))
        return [c.id for stage in ("fit", "distill", "evaluate") for c in cells[stage]]

    here, there = tmp_path / "a", tmp_path / "b" / "c"
    here.mkdir()
    write_csv(here / "reviews.csv", sample_rows())
    spec(here)
    shutil.copytree(here, there)
    assert ids(here) == ids(there) and ids(here)[0].startswith("my-reviews.random.f0-")
    write_csv(there / "reviews.csv", sample_rows(31))
    assert not set(ids(here)) & set(ids(there))


def test_overrides_keep_every_entry_of_a_name_and_the_grid_files_own_task_paths(tmp_path, monkeypatch):
    """``--learners tfidf-logreg`` on a grid listing it twice (with and without class weights) keeps both; the grid's
    own ``tasks: [sub/task.yaml]`` still resolves next to the grid file when run from elsewhere with overrides."""
    from benchmark.study.grid import load_grid

    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "sub" / "reviews.csv", sample_rows())
    spec(tmp_path / "sub")
    (tmp_path / "grid.yaml").write_text(
        "name: g\ntasks: [sub/task.yaml]\ndpcs: [2]\nmethods: [random]\nlearners: [tfidf-logreg, "
        "{name: tfidf-logreg, params: {class_weight: balanced}}, bow-ngrams]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    grid = load_grid(str(tmp_path / "grid.yaml"), overrides={"learners": ["tfidf-logreg"], "dpcs": [2]})
    assert [c.kwargs for c in grid.learners] == [{}, {"class_weight": "balanced"}]
    assert grid.tasks[0].kwargs["spec"] == str((tmp_path / "sub" / "task.yaml").resolve())


def test_tasks_override_picks_a_grids_spec_by_the_name_it_declares_or_its_file_stem(tmp_path, monkeypatch):
    """``--tasks my-reviews`` on a grid listing ``sub/task.yaml`` (which declares that name) picks the spec, as does
    its stem ``task``; a name the grid lacks stays a registry name and fails with did-you-mean."""
    from benchmark.core.errors import UsageError
    from benchmark.study.checks import check_grid
    from benchmark.study.grid import load_grid

    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "sub" / "reviews.csv", sample_rows())
    spec(tmp_path / "sub")
    (tmp_path / "grid.yaml").write_text(
        "name: g\ntasks: [sms-spam, sub/task.yaml]\ndpcs: [2]\nmethods: [random]\nlearners: [tfidf-logreg]\n")
    monkeypatch.chdir(tmp_path / "sub")
    resolved = str((tmp_path / "sub" / "task.yaml").resolve())
    for name in ("my-reviews", "task"):
        grid = load_grid(str(tmp_path / "grid.yaml"), overrides={"tasks": [name]})
        assert [t.kwargs.get("spec") for t in grid.tasks] == [resolved]
    assert [t.name for t in load_grid(str(tmp_path / "grid.yaml"), overrides={"tasks": ["sms-spam"]}).tasks] == \
        ["sms-spam"]
    with pytest.raises(UsageError, match=r"unknown task 'my-reviewz'. Did you mean 'my-reviews'\?"):
        check_grid(load_grid(str(tmp_path / "grid.yaml"), overrides={"tasks": ["my-reviewz"]}), load_data=False)
