"""Start-up time of the CLI: `python -m benchmark --help` and `list`, each a fresh process (the interpreter's own start
included). Target: <= 1 s each; they import no torch, transformers or method code beyond the registries.

Run: ``.venv/bin/python -m pytest perf/test_cli_startup.py --benchmark-only -s``
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["--help"], ["list"]], ids=["help", "list"])
def test_cli_starts_within_a_second(benchmark, args):
    def start():
        done = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = benchmark.pedantic(start, rounds=5, iterations=1, warmup_rounds=1)
    assert out
    print(f"\n`python -m benchmark {' '.join(args)}`: median {benchmark.stats['median']:.2f} s")
    assert benchmark.stats["median"] <= 1.0
