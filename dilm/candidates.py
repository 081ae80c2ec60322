"""Producing the distilled set: over-sample candidates per class, then keep the representatives.

Candidates are generated in fixed-size chunks (``chunk``: 64 by default, the authors' 512 in the ``paper`` preset; also
the batch of one generate call), each seeded by (set seed, class, chunk), so the first n candidates of a seed do not
depend on how many are asked for: sets of every DPC with one seed share their chunks, which are cached on disk
(written to a temporary name, fsynced, then renamed: concurrent cells are safe; a damaged chunk is set aside and
sampled again). Another chunk size draws other chunks: its cache folder is another one
(``methods/generative.py: candidates_dir``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dilm.durable import set_aside, write_durably
from dilm.generator import Generator, seeds_for
from dilm.selection import kmeans_centers

CHUNK = 64  # the default chunk: ``DiLMConfig.candidate_chunk``'s


def candidate_texts(generator: Generator, label: int, n: int, max_length: int, top_p: float, seed: int,
                    max_retries: int, cache_dir: Path | None = None, on_chunk=None,
                    chunk: int = CHUNK) -> list[tuple[str, ...]]:
    """The first ``n`` valid samples of class ``label`` in the stream of ``seed``. ``on_chunk(path, seconds)`` is
    told of every cached chunk used: the seconds it took to sample, or None when it was already there."""
    out: list[tuple[str, ...]] = []
    for k in tqdm(range(-(-n // chunk)), desc=f"candidates of class {label}", unit="chunk", leave=False, disable=None):
        path = None if cache_dir is None else cache_dir / f"seed{seed}" / f"class{label}" / f"chunk{k:05d}.json"
        seconds = None
        texts = _cached_chunk(path) if path is not None and path.exists() else None
        if texts is None:
            t0 = time.perf_counter()
            texts, _ = generator.sample_texts(label, chunk, max_length, top_p, seeds_for((seed, label, k), 1)[0],
                                              max_retries, batch_size=chunk)
            seconds = time.perf_counter() - t0
            if path is not None:
                data = json.dumps(texts, ensure_ascii=False)
                write_durably(path, lambda tmp: tmp.write_text(data, encoding="utf-8"))
        if path is not None and on_chunk is not None:
            on_chunk(path, seconds)
        out.extend(texts)
    return out[:n]


def _cached_chunk(path: Path) -> list[tuple[str, ...]] | None:
    """A cached chunk's texts, or None when it does not read as a list of texts (a truncated or garbled file: set
    aside, and the chunk is sampled again)."""
    try:
        texts = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(texts, list) or not all(isinstance(t, list) and all(isinstance(f, str) for f in t)
                                                  for t in texts):
            raise ValueError("not a list of texts")
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        set_aside(path, f"does not load ({type(exc).__name__}: {str(exc)[:120]}); sampled again")
        return None
    return [tuple(t) for t in texts]


def select_representatives(embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """DiLM's test-time selection: k-means (k = DPC) on the candidates' embeddings, nearest per centroid."""
    return kmeans_centers(embeddings, k, seed)
