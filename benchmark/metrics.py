"""Test-split metrics: accuracy and macro-F1 (as fractions in [0, 1]), with the number scored."""
from __future__ import annotations

import numpy as np


def compute_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(num_classes)),
                                       zero_division=0)),
            "n_test": int(len(labels))}
