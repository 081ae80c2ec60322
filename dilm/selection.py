"""Representative selection: DiLM's test-time selection and the paper's "K-centers" coreset.

k-means (k = number to keep, k-means++ init, one init, seeded) on the candidates' embeddings, then
the candidate nearest each centroid. Not Sener & Savarese's greedy farthest-first k-center. k-means runs on the GPU
when one is present (``dilm/kmeans.py``: scikit-learn's algorithm and draws in torch), else in scikit-learn.
Memory stays O(n + chunk x n): distances are computed for a few centroids at a time, never as a
(k, n, d) array (at QQP scale, 182k rows x 768 with k = 200, that array alone would be ~110 GiB).
"""
from __future__ import annotations

import numpy as np

CHUNK_ELEMENTS = 1 << 22  # ~32 MiB of float64 distances per block of centroids


def squared_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(len(centers), len(points)) squared L2 distances in float64, by ||x||^2 - 2 x.c + ||c||^2; the points
    are converted to float64 a slice at a time, so a float32 matrix is never copied whole."""
    c = np.asarray(centers, dtype=np.float64)
    out = np.empty((len(c), len(points)), dtype=np.float64)
    step = max(1, CHUNK_ELEMENTS // max(points.shape[1], 1))
    for start in range(0, len(points), step):
        x = np.asarray(points[start:start + step], dtype=np.float64)
        out[:, start:start + step] = (c * c).sum(1)[:, None] - 2.0 * (c @ x.T) + (x * x).sum(1)[None, :]
    return np.maximum(out, 0.0, out=out)


def nearest_untaken(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """For each center in order, the nearest row of ``points`` not taken by an earlier center (lowest index
    on ties), computed in blocks of centers so memory is O(block x n)."""
    n = len(points)
    block = max(1, CHUNK_ELEMENTS // max(n, 1))
    taken = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    for start in range(0, len(centers), block):
        for row in squared_distances(points, centers[start:start + block]):
            row[taken] = np.inf
            pick = int(np.argmin(row))  # argmin returns the first (lowest index) of equal minima
            taken[pick] = True
            chosen.append(pick)
    return np.asarray(chosen, dtype=np.int64)


def kmeans_centers(embeddings: np.ndarray, k: int, seed: int, max_iter: int = 300,
                   device: str | None = "auto") -> np.ndarray:
    """Indices of ``k`` distinct rows of ``embeddings``: for each k-means centroid (in cluster order),
    the nearest row not already taken by an earlier centroid. ``max_iter``: scikit-learn's default; a rehearsal
    times a few iterations. ``device``: ``auto`` (the GPU if there is one, else scikit-learn), None (scikit-learn)
    or a torch device for ``dilm/kmeans.py``."""
    n = len(embeddings)
    if not 0 < k <= n:
        raise ValueError(f"cannot select {k} of {n} candidates")
    device = kmeans_device(device)
    if device is not None:
        from dilm.kmeans import kmeans

        return nearest_untaken(embeddings, kmeans(embeddings, k, seed, device, max_iter)[0])
    from sklearn.cluster import KMeans

    # scikit-learn centres the rows before clustering; in place (and back) where it may, instead of in a copy as
    # large as the rows (at QQP scale 0.53 GiB a class). The rows may change in their last bit.
    in_place = embeddings.flags.writeable and embeddings.flags.c_contiguous
    centroids = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed, max_iter=max_iter,
                       copy_x=not in_place).fit(embeddings).cluster_centers_
    return nearest_untaken(embeddings, centroids)


def kmeans_device(device: str | None) -> str | None:
    """Where k-means runs: ``auto`` is the GPU when one is present, else None (scikit-learn, on the CPU)."""
    if device == "auto":
        from dilm.kmeans import cuda_device

        return cuda_device()
    return device


def label_consistent(probabilities: np.ndarray, label: int, at_least: int) -> np.ndarray:
    """Indices of the candidates a classifier puts in class ``label`` (the argmax of their class probabilities);
    when fewer than ``at_least`` are, the ``at_least`` most probable for ``label`` (the label-consistency filter
    of DiLM's successor GRADMM, before selection)."""
    on_label = np.flatnonzero(probabilities.argmax(1) == label)
    if len(on_label) >= at_least:
        return on_label
    return np.sort(np.argsort(-probabilities[:, label], kind="stable")[:at_least])
