"""The torch k-means (``dilm/kmeans.py``, what a GPU job runs) picks what scikit-learn picks: run here on the CPU, on
small inputs of several shapes, with the same seeds."""
from __future__ import annotations

import numpy as np
import pytest

from dilm.gradient_matching import diverse_clusters
from dilm.kmeans import kmeans
from dilm.selection import kmeans_centers


def _inputs():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(c, 0.3, size=(40, 8)) for c in rng.normal(0, 3, size=(6, 8))])
    yield "blobs", blobs.astype(np.float32), 6
    yield "gaussian", rng.normal(size=(150, 16)).astype(np.float32), 12
    yield "float64 embeddings", rng.normal(size=(300, 32)), 20
    yield "unit rows", (lambda x: x / np.linalg.norm(x, axis=1, keepdims=True))(rng.normal(size=(80, 24))), 10
    yield "every row", rng.normal(size=(9, 4)), 9


@pytest.mark.parametrize("name, rows, k", list(_inputs()), ids=[name for name, _, _ in _inputs()])
def test_torch_kmeans_selects_the_members_scikit_learn_selects(name, rows, k):
    from sklearn.cluster import KMeans

    for seed in (0, 1, 7):
        ours = kmeans_centers(rows.copy(), k, seed, device="cpu")
        theirs = kmeans_centers(rows.copy(), k, seed, device=None)
        assert ours.tolist() == theirs.tolist(), (name, seed)
        reference = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed).fit(rows.copy())
        centroids, labels = kmeans(rows, k, seed, "cpu")
        np.testing.assert_allclose(centroids, reference.cluster_centers_, rtol=0, atol=1e-4)
        assert labels.tolist() == reference.labels_.tolist()
        assert diverse_clusters(rows, k, seed, device="cpu").tolist() == diverse_clusters(rows, k, seed, None).tolist()


def test_auto_uses_scikit_learn_without_a_gpu(monkeypatch):
    import torch

    from dilm import kmeans as torch_kmeans

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_kmeans.cuda_device() is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_kmeans.cuda_device() == "cuda"
