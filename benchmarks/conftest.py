"""Speed and memory benchmarks (pytest-benchmark), run on demand: `pytest benchmarks/ --benchmark-only`."""
