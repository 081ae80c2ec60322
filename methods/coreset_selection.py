"""Greedy coreset selection on embeddings (pure numpy): herding and farthest-first k-center.

Distances are computed a slice of rows at a time (float64 per slice), so memory stays O(n) beside the
embeddings themselves, even for a class of 182k rows x 768 (QQP with a base-size encoder)."""
from __future__ import annotations

import numpy as np

ROWS_PER_SLICE = 8192


def distances_to(embeddings: np.ndarray, point: np.ndarray, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """|point - (offset + row)| for every row (float64), a slice of rows at a time."""
    out = np.empty(len(embeddings), dtype=np.float64)
    for start in range(0, len(embeddings), ROWS_PER_SLICE):
        rows = np.asarray(embeddings[start:start + ROWS_PER_SLICE], dtype=np.float64)
        out[start:start + len(rows)] = np.linalg.norm(point - (offset + rows), axis=1)
    return out


def herding(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Welling's herding: at step t pick the unselected row that brings the running sum of the selection
    closest (L2) to t x the mean of all rows (argmin; DeepCore's argmax is the wrong direction)."""
    n = len(embeddings)
    if not 0 < k <= n:
        raise ValueError(f"cannot select {k} of {n} rows")
    mean = _mean(embeddings)
    running = np.zeros_like(mean)
    available = np.ones(n, dtype=bool)
    chosen = []
    for t in range(1, k + 1):
        gaps = distances_to(embeddings, t * mean, running)
        gaps[~available] = np.inf
        pick = int(np.argmin(gaps))
        chosen.append(pick)
        available[pick] = False
        running += np.asarray(embeddings[pick], dtype=np.float64)
    return np.asarray(chosen, dtype=np.int64)


def _mean(embeddings: np.ndarray) -> np.ndarray:
    total = np.zeros(embeddings.shape[1], dtype=np.float64)
    for start in range(0, len(embeddings), ROWS_PER_SLICE):
        total += np.asarray(embeddings[start:start + ROWS_PER_SLICE], dtype=np.float64).sum(0)
    return total / len(embeddings)


def kcenter_greedy(embeddings: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
    """Sener & Savarese's greedy k-center: a seeded random first row, then repeatedly the row farthest
    from the selection. Returns the indices and the covering radius (max distance of any row to its
    nearest selected row)."""
    n = len(embeddings)
    if not 0 < k <= n:
        raise ValueError(f"cannot select {k} of {n} rows")
    first = int(np.random.default_rng(seed).integers(n))
    chosen = [first]
    nearest = distances_to(embeddings, np.asarray(embeddings[first], dtype=np.float64))
    for _ in range(k - 1):
        candidates = nearest.copy()
        candidates[chosen] = -1.0  # duplicates of selected rows (distance 0) may still be picked, selected rows not
        pick = int(np.argmax(candidates))
        chosen.append(pick)
        nearest = np.minimum(nearest, distances_to(embeddings, np.asarray(embeddings[pick], dtype=np.float64)))
    return np.asarray(chosen, dtype=np.int64), float(nearest.max())
