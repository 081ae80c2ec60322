"""Speed and memory benchmarks (pytest-benchmark) in `perf/`, a folder apart from the `benchmark` package; run on demand: `pytest perf/ --benchmark-only`."""
