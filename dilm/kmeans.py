"""k-means on a torch device (the GPU of a GPU job), written to pick what scikit-learn's ``KMeans`` picks.

The same algorithm step for step: rows centred on their mean, scikit-learn's greedy k-means++ (``2 + log k`` trials a
center) fed by the same NumPy ``RandomState`` draws, then Lloyd iterations with its stopping rule (labels unchanged,
or total squared center shift <= ``tol`` x the mean feature variance) and its relocation of empty clusters to the
rows farthest from their centers. The arithmetic is float64 on the device, so the same seed gives the same centroids
up to float rounding (scikit-learn computes a float32 input in float32). Rows with fewer distinct values than k
(exact duplicates) are the exception: which of two equal rows a tie goes to may differ, an equally good pick.
"""
from __future__ import annotations

import numpy as np


def cuda_device() -> str | None:
    """``"cuda"`` when a CUDA device is present (k-means then runs there), else None (scikit-learn on the CPU)."""
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


def kmeans(rows: np.ndarray, k: int, seed: int, device: str, max_iter: int = 300,
           tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (k, d), label of each row) of k-means with k-means++ init, one init, seeded as scikit-learn's
    ``KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed)``."""
    import torch

    n = len(rows)
    if not 0 < k <= n:
        raise ValueError(f"cannot make {k} clusters of {n} rows")
    random_state = np.random.RandomState(seed)
    x = torch.as_tensor(np.asarray(rows), device=device).to(torch.float64)
    tol = float(x.var(0, unbiased=False).mean()) * tol
    mean = x.mean(0)
    x = x - mean
    norms = (x * x).sum(1)
    centers = x[_kmeans_plusplus(x, norms, k, random_state, np.asarray(rows).dtype)]
    labels_old = torch.full((n,), -1, dtype=torch.long, device=device)
    strict = False
    for _ in range(max_iter):
        labels = _nearest(x, norms, centers)
        new = _means(x, labels, centers, k)
        shift = ((new - centers) ** 2).sum()
        centers = new
        if torch.equal(labels, labels_old):
            strict = True
            break
        if float(shift) <= tol:
            break
        labels_old = labels
    if not strict:
        labels = _nearest(x, norms, centers)
    return (centers + mean).cpu().numpy(), labels.cpu().numpy()


def _squared(x, norms, centers):
    """(n, len(centers)) squared distances, ||x||^2 - 2 x.c + ||c||^2 clipped at 0 (scikit-learn's formula)."""
    return (norms[:, None] - 2.0 * x @ centers.T + (centers * centers).sum(1)[None, :]).clamp_(min=0)


def _nearest(x, norms, centers):
    return _squared(x, norms, centers).argmin(1)


def _kmeans_plusplus(x, norms, k: int, random_state, dtype) -> list[int]:
    """scikit-learn's ``_kmeans_plusplus`` (unit sample weights): the first center drawn uniformly, each next one the
    best of ``2 + int(log k)`` candidates drawn in proportion to the squared distance to the nearest center."""
    import torch

    n = len(x)
    trials = 2 + int(np.log(k))
    weights = np.ones(n, dtype=dtype)
    chosen = [int(random_state.choice(n, p=weights / weights.sum()))]
    closest = _squared(x, norms, x[chosen]).squeeze(1)
    potential = closest.sum()
    for _ in range(1, k):
        draws = torch.as_tensor(random_state.uniform(size=trials), device=x.device) * potential
        candidates = torch.searchsorted(closest.cumsum(0), draws).clamp_(max=n - 1)
        distances = torch.minimum(closest[:, None], _squared(x, norms, x[candidates]))
        potentials = distances.sum(0)
        best = int(potentials.argmin())
        potential, closest = potentials[best], distances[:, best]
        chosen.append(int(candidates[best]))
    return chosen


def _means(x, labels, centers, k: int):
    """The mean of each cluster's rows; an empty cluster takes the row farthest from its center (scikit-learn's
    relocation: the farthest rows, in order of distance, leave their clusters)."""
    import torch

    sums = torch.zeros_like(centers).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=k).to(x.dtype)
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if empty:
        far = ((x - centers[labels]) ** 2).sum(1).argsort(descending=True)[:len(empty)].tolist()
        for cluster, row in zip(empty, far):
            old = int(labels[row])
            sums[old] -= x[row]
            counts[old] -= 1
            sums[cluster], counts[cluster] = x[row], 1
    return sums / counts.clamp(min=1)[:, None]
