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


class _FakeHub:
    """A local folder served as the Hugging Face hub (the few endpoints ``snapshot_download`` calls): each
    ``<org>/<name>/`` folder is a model repository at one commit."""

    SHA = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, root):
        import hashlib
        import http.server
        import threading

        hub, self.requests = self, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, body: bytes, content_type="application/octet-stream", head=False, extra=None):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _serve(self, head):
                hub.requests.append((self.command, self.path))
                path = self.path.split("?")[0]
                parts = path.strip("/").split("/")
                if parts[:2] == ["api", "models"]:  # /api/models/<org>/<name>[/revision/<rev> | /tree/<rev>]
                    repo = root / parts[2] / parts[3]
                    if not repo.is_dir():
                        self.send_error(404)
                        return
                    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
                    if len(parts) > 4 and parts[4] == "tree":
                        tree = [{"type": "file", "path": f, "size": (repo / f).stat().st_size,
                                 "oid": hashlib.sha1((repo / f).read_bytes()).hexdigest()} for f in files]
                        self._send(json.dumps(tree).encode(), "application/json", head)
                        return
                    info = {"id": f"{parts[2]}/{parts[3]}", "modelId": f"{parts[2]}/{parts[3]}", "sha": hub.SHA,
                            "siblings": [{"rfilename": f} for f in files], "private": False}
                    self._send(json.dumps(info).encode(), "application/json", head)
                    return
                if len(parts) >= 5 and parts[2] == "resolve":  # /<org>/<name>/resolve/<rev>/<file>
                    file = root / parts[0] / parts[1] / "/".join(parts[4:])
                    if not file.is_file():
                        self.send_error(404)
                        return
                    body = file.read_bytes()
                    etag = '"' + hashlib.sha1(body).hexdigest() + '"'
                    self._send(body, head=head, extra={"X-Repo-Commit": hub.SHA, "ETag": etag})
                    return
                self.send_error(404)

            def do_GET(self):
                self._serve(head=False)

            def do_HEAD(self):
                self._serve(head=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_assets_prefetch_fills_the_cache_from_a_fake_offline_hub(tmp_path, capsys, monkeypatch):
    """`assets prefetch --grid G`: the grid's hub models through the real snapshot_download, from a local folder
    served as the hub on 127.0.0.1 (no internet); its hub datasets through datasets.load_dataset (recorded here:
    serving a dataset repository would need the hub's whole tree API)."""
    import datasets

    repo = tmp_path / "fake-hub" / "tiny-org" / "tiny-bert"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text('{"model_type": "bert"}')
    (repo / "model.safetensors").write_bytes(b"weights" * 100)
    (repo / "tf_model.h5").write_bytes(b"tensorflow weights: skipped")
    hub = _FakeHub(tmp_path / "fake-hub")
    loaded = []
    monkeypatch.setattr(datasets, "load_dataset", lambda path, config=None, cache_dir=None: loaded.append(
        (path, config, cache_dir)) or {"train": [0] * 3, "validation": [0] * 2})
    # the huggingface_hub constants read HF_ENDPOINT at import: point them at the fake hub for this test
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: hubby\ntasks: [sst2, qqp]\ndpcs: [5]\nmethods: [random]\n"
                    "learners: [{name: hf-classifier, params: {model: tiny-org/tiny-bert}}, tfidf-logreg]\n")
    try:
        assert main(["assets", "prefetch", "--grid", str(grid), "--hf-home", str(tmp_path / "hf")]) == 0
    finally:
        hub.close()
    out = capsys.readouterr().out
    assert loaded == [("nyu-mll/glue", "sst2", str(tmp_path / "hf" / "datasets")),
                      ("nyu-mll/glue", "qqp", str(tmp_path / "hf" / "datasets"))]
    assert "dataset nyu-mll/glue/sst2: train 3, validation 2" in out and "2 dataset(s) and 1 model(s)" in out
    snapshot = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-bert" / "snapshots" / _FakeHub.SHA
    assert (snapshot / "config.json").read_text() == '{"model_type": "bert"}'
    assert (snapshot / "model.safetensors").read_bytes() == b"weights" * 100
    assert not (snapshot / "tf_model.h5").exists()  # another framework's weights are not fetched
    assert any("/tiny-org/tiny-bert/resolve/" in path for _, path in hub.requests)
    # the cache now answers offline, with the server gone: the same files resolve from the cache alone
    from huggingface_hub import snapshot_download

    from benchmark.study.prefetch import SKIPPED

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert snapshot_download("tiny-org/tiny-bert", cache_dir=str(tmp_path / "hf" / "hub"),
                             ignore_patterns=SKIPPED) == str(snapshot)


def test_the_paper_grid_prefetches_glue_and_every_model_its_learners_and_methods_name():
    from benchmark import api
    from benchmark.study.prefetch import hub_assets

    datasets, models = hub_assets(api.open_grid("full", load_data=False))
    assert datasets == [("nyu-mll/glue", "sst2"), ("nyu-mll/glue", "qqp"), ("nyu-mll/glue", "mnli")]
    # the four learners; herding/K-centers/TDD/DiLM embed with BERT-base; DiLM's paper preset generates with GPT-2
    assert models == ["bert-base-uncased", "roberta-base", "bert-large-uncased", "xlnet-base-cased", "gpt2"]
    assert hub_assets(api.open_grid("demo", load_data=False)) == ([], [])  # offline models are not fetched
