"""Greedy coreset selection on embeddings (pure numpy): herding and farthest-first k-center."""
from __future__ import annotations

import numpy as np


def herding(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Welling's herding: at step t pick the unselected row that brings the running sum of the selection
    closest (L2) to t x the mean of all rows (argmin; DeepCore's argmax is the wrong direction)."""
    n = len(embeddings)
    if not 0 < k <= n:
        raise ValueError(f"cannot select {k} of {n} rows")
    x = embeddings.astype(np.float64)
    mean = x.mean(axis=0)
    running = np.zeros_like(mean)
    available = np.ones(n, dtype=bool)
    chosen = []
    for t in range(1, k + 1):
        gaps = np.linalg.norm(t * mean - (running + x), axis=1)
        gaps[~available] = np.inf
        pick = int(np.argmin(gaps))
        chosen.append(pick)
        available[pick] = False
        running += x[pick]
    return np.asarray(chosen, dtype=np.int64)


def kcenter_greedy(embeddings: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
    """Sener & Savarese's greedy k-center: a seeded random first row, then repeatedly the row farthest
    from the selection. Returns the indices and the covering radius (max distance of any row to its
    nearest selected row)."""
    n = len(embeddings)
    if not 0 < k <= n:
        raise ValueError(f"cannot select {k} of {n} rows")
    x = embeddings.astype(np.float64)
    first = int(np.random.default_rng(seed).integers(n))
    chosen = [first]
    nearest = np.linalg.norm(x - x[first], axis=1)
    for _ in range(k - 1):
        candidates = nearest.copy()
        candidates[chosen] = -1.0  # duplicates of selected rows (distance 0) may still be picked, selected rows not
        pick = int(np.argmax(candidates))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[pick], axis=1))
    return np.asarray(chosen, dtype=np.int64), float(nearest.max())
