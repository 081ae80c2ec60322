"""The newcomer's path (#54): one's own data warns when its test split is too small to read, a method tried from a
plugins folder without installing anything, and the HF cache filled for a grid's hub tasks and models."""
import json

from benchmark.cli import main


def _reviews(folder, n_per_class, name="reviews.csv"):
    rows = [f'"dull and flat {i}",bad' for i in range(n_per_class)] + [f'"a fine film {i}",good' for i in range(n_per_class)]
    (folder / name).write_text("review,stars\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_a_small_test_split_warns_and_names_test_path(tmp_path, capsys):
    _reviews(tmp_path, 100)  # 200 rows: a 20-row test split, accuracy in steps of 5 points
    (tmp_path / "task.yaml").write_text(json.dumps({"name": "my-reviews", "path": "reviews.csv",
                                                    "text_fields": ["review"], "label_field": "stars"}))
    args = ["run", str(tmp_path / "runs"), "--tasks", str(tmp_path / "task.yaml"), "--methods", "random",
            "--learners", "tfidf-logreg", "--dpcs", "2", "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert ("warning: task 'my-reviews' is scored on 20 test rows: accuracy moves in steps of 1/20 (5.0 points)"
            in err) and "`test_path:` in its spec" in err
    # a given test file of 100 rows: no warning
    _reviews(tmp_path, 50, "test.csv")
    (tmp_path / "given.yaml").write_text(json.dumps({"name": "my-reviews", "path": "reviews.csv", "test_path": "test.csv",
                                                     "text_fields": ["review"], "label_field": "stars"}))
    assert main([a.replace("task.yaml", "given.yaml") for a in args]) == 0
    assert "test rows" not in capsys.readouterr().err


PLUGIN = '''"""first-of-class: the first DPC train examples of each class (a plugins-folder method)."""
from methods import METHODS
from methods.base import Method, MethodCard, check_dpc, per_class_indices


@METHODS.register("first-of-class")
class FirstOfClass(Method):
    """The first DPC train examples of each class."""

    deterministic = True
    CARD = MethodCard(summary="the first examples of each class", fit_cost="none", distill_cost="none", citation="-")

    def distill(self, task, dpc, seed):
        check_dpc(task, dpc)
        train = task.splits.train
        chosen = [i for rows in per_class_indices(train.labels, task.num_classes) for i in rows[:dpc]]
        return self.make_set(task, train.subset(chosen), dpc, seed, source_indices=chosen)
'''


def test_a_method_from_a_plugins_folder_runs_without_installing(tmp_path, capsys):
    import os
    import subprocess
    import sys

    folder = tmp_path / "my-plugins"
    folder.mkdir()
    (folder / "first_of_class.py").write_text(PLUGIN)
    (folder / "_helpers.py").write_text("raise RuntimeError('files starting with _ are not imported')\n")
    listed = subprocess.run([sys.executable, "-m", "benchmark", "list", "methods"], capture_output=True, text=True,
                            env={**os.environ, "DILM_BENCH_PLUGINS": str(folder)}, timeout=300)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if "first-of-class" in line)
    assert "The first DPC train examples of each class." in line and f"[plugin file {folder / 'first_of_class.py'}]" in line
    runs = tmp_path / "runs"
    assert main(["--plugins", str(folder), "run", str(runs), "--tasks", "tiny-sentiment", "--methods", "first-of-class",
                 "--learners", "tfidf-logreg", "--dpcs", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| first-of-class |" in out and "| Random |" in out  # beside the reference rows it kept
    (record,) = [json.loads(p.read_text()) for p in (runs / "distill").glob("*first-of-class*/record.json")]
    assert record["distilled"]["n_examples"] == 4
    assert "DILM_BENCH_PLUGINS" not in os.environ  # --plugins is this command's
    assert main(["--plugins", str(tmp_path / "nowhere"), "list"]) == 2
    assert "DILM_BENCH_PLUGINS: no folder" in capsys.readouterr().err
