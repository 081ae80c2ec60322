"""Tokenising text tuples once, and scoring them in batches of similar length (less padding)."""
from __future__ import annotations

import numpy as np


def tokenize(tokenizer, texts, max_length: int) -> list[dict]:
    """One feature dict per text tuple (sentence pairs are encoded as pairs), unpadded."""
    encoded = tokenizer(*zip(*texts), truncation=True, max_length=max_length)
    return [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]


def length_sorted_batches(tokenizer, features: list[dict], batch_size: int, device: str):
    """Yield (indices, padded tensors) over all features, shortest first, ``batch_size`` at a time."""
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield idx, tokenizer.pad([features[i] for i in idx], return_tensors="pt").to(device)
