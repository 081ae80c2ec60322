"""Selection at QQP scale: the representative teacher's k-means coreset (k = 200 per class), K-centers and herding
at DPC 20, on two classes of 181,923 rows x 768 (QQP's train split in a base-size encoder's space). Target: peak RSS
<= 3 GiB (the embeddings themselves are 1.04 GiB); the old (k, n, d) difference array needed ~104 GiB per class.

Run: ``.venv/bin/python -m pytest perf/test_selection_scale.py --benchmark-only -s``
(``SELECTION_BENCH_ROWS`` sets the rows per class.)
"""
import os

import numpy as np
import pytest

from benchmark.core.provenance import PeakMemory
from dilm.gradient_matching import representative_coresets
from dilm.selection import kmeans_centers
from methods.coreset_selection import herding

ROWS = int(os.environ.get("SELECTION_BENCH_ROWS", 181_923))
WIDTH = 768


@pytest.fixture(scope="module")
def embeddings():
    x = np.random.default_rng(0).standard_normal((2 * ROWS, WIDTH), dtype=np.float32)
    return x, np.repeat([0, 1], ROWS)


def measured(benchmark, work):
    peaks = []

    def run():
        with PeakMemory() as memory:
            out = work()
        peaks.append(memory.as_dict()["peak_rss_mib"])
        return out

    out = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_mib"] = max(peaks)
    print(f"\n{benchmark.name}: peak RSS {max(peaks):.0f} MiB")
    assert max(peaks) <= 3 * 1024, f"peak RSS {max(peaks):.0f} MiB is over the 3 GiB target"
    return out


def test_representative_teacher_k200_per_class(benchmark, embeddings):
    x, labels = embeddings
    coresets = measured(benchmark, lambda: representative_coresets(x, labels, 2, n_coresets=1, size=200, seed=0))
    assert [len(set(c.tolist())) for c in coresets[0]] == [200, 200]


@pytest.mark.parametrize("name", ["kmeans-centers", "herding"])
def test_dpc20_selection_per_class(benchmark, embeddings, name):
    x, labels = embeddings
    select = (lambda rows: kmeans_centers(rows, 20, seed=0)) if name == "kmeans-centers" else (lambda rows: herding(rows, 20))
    chosen = measured(benchmark, lambda: [select(x[labels == c]) for c in (0, 1)])
    assert [len(set(c.tolist())) for c in chosen] == [20, 20]
