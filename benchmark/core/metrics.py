"""Test-split metrics (fractions in [0, 1]) with the number scored: accuracy and macro-F1; for two
classes also F1 of class 1 and the paper's QQP score, acc_and_f1 = mean(accuracy, F1). Macro-F1 averages over the
classes in the test labels or the predictions: a rare class that no test example holds and no prediction names
has no F1 to count (counting it as 0 would lower every method's score alike)."""
from __future__ import annotations

import numpy as np


def compute_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    metrics = {"accuracy": float(accuracy_score(labels, predictions)),
               "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),  # present classes
               "n_test": int(len(labels))}
    if num_classes == 2:
        metrics["f1"] = float(f1_score(labels, predictions, pos_label=1, zero_division=0))
        metrics["acc_and_f1"] = (metrics["accuracy"] + metrics["f1"]) / 2
    return metrics
