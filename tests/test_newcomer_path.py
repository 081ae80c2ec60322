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
