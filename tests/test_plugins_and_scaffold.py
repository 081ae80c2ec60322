"""Adding a method without editing this repository: the example plugin package (installed by entry
point) and the `new-method` scaffold, whose output works unchanged."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from methods import METHODS

from conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent


def run(args, cwd, extra_path=(), timeout=900):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, extra_path), str(ROOT)])}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def test_the_example_plugin_is_listed_and_runs_in_a_grid(tmp_path, rt_assets):
    if "tfidf-prototypes" not in METHODS:
        message = "the example plugin is not installed (make setup installs examples/tfidf-prototypes-plugin)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    assert METHODS.source("tfidf-prototypes").startswith("plugin dilm_bench_tfidf_prototypes")
    listed = run(["-m", "benchmark", "list", "methods"], tmp_path)
    assert "tfidf-prototypes" in listed.stdout and "[plugin dilm_bench_tfidf_prototypes.method:" in listed.stdout
    result = run(["-m", "benchmark", "run", "--methods", "tfidf-prototypes", "random", "--learners", "tfidf-logreg",
                  "--dpcs", "5", "--no-progress"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| tfidf-prototypes " in result.stdout and "| Random |" in result.stdout


def test_scaffolded_plugin_package_works_unchanged(tmp_path, rt_assets):
    """new-method --package: install it (into a separate folder), run its tests, run it in the demo grid."""
    package = tmp_path / "my-method-pkg"
    assert main(["new-method", "my-method", "--package", str(package)]) == 0
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(package)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    tests = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")], tmp_path, [site])
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "2 passed" in tests.stdout
    grid = run(["-m", "benchmark", "run", "--grid", "demo", "--methods", "my-method", "random",
                "--learners", "tfidf-logreg", "--no-progress"], tmp_path, [site])
    assert grid.returncode == 0, grid.stderr[-2000:]
    assert "| my-method " in grid.stdout
    for dpc in (5, 10, 20):
        assert f"rt-polarity DPC {dpc}" in grid.stdout


def test_scaffolded_in_repo_method_registers_itself(tmp_path, monkeypatch):
    """new-method NAME: a file in methods/ (found automatically) and its test in tests/."""
    (tmp_path / "methods").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setattr("benchmark.authoring.scaffold.repository_root", lambda: tmp_path)
    assert main(["new-method", "my-local-method"]) == 0
    module = tmp_path / "methods" / "my_local_method.py"
    assert module.exists() and (tmp_path / "tests" / "test_method_my_local_method.py").exists()
    # as if the file were in this repository's methods/ package: it is discovered, listed and meets the contract
    script = ("import methods; methods.__path__.append(%r)\n"
              "from methods import METHODS\n"
              "from benchmark.authoring.testing import check_method_contract\n"
              "check_method_contract(METHODS.get('my-local-method'))\n"
              "from benchmark.cli import main; main(['list', 'methods'])\n") % str(tmp_path / "methods")
    result = run(["-c", script], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "my-local-method" in result.stdout
    # refuses to overwrite, and to reuse a registered name
    assert main(["new-method", "my-local-method"]) == 2
    assert main(["new-method", "random"]) == 2
