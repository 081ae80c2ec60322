"""Representative selection: DiLM's test-time selection and the paper's "K-centers" coreset.

k-means (k = number to keep, k-means++ init, one init, seeded) on the candidates' embeddings, then
the candidate nearest each centroid. Not Sener & Savarese's greedy farthest-first k-center.
"""
from __future__ import annotations

import numpy as np


def kmeans_centers(embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Indices of ``k`` distinct rows of ``embeddings``: for each k-means centroid (in cluster order),
    the nearest row not already taken by an earlier centroid."""
    from sklearn.cluster import KMeans

    n = len(embeddings)
    if not 0 < k <= n:
        raise ValueError(f"cannot select {k} of {n} candidates")
    centroids = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed).fit(embeddings).cluster_centers_
    distances = ((embeddings[None, :, :] - centroids[:, None, :]) ** 2).sum(-1)  # (k, n)
    chosen: list[int] = []
    for row in distances:
        for candidate in np.argsort(row, kind="stable"):
            if candidate not in chosen:
                chosen.append(int(candidate))
                break
    return np.asarray(chosen, dtype=np.int64)
