"""tfidf-logreg: TF-IDF word/bigram features + logistic regression, a non-neural learner.

It shows that a text-level distilled set trains any model, not only the network it was made with.
"""
from __future__ import annotations

import numpy as np

from benchmark.learners import LEARNERS
from benchmark.learners.base import CLASS_WEIGHTS, Learner, class_weights, join_fields
from benchmark.tasks.base import Examples


@LEARNERS.register("tfidf-logreg")
class TfidfLogReg(Learner):
    """TF-IDF (1-2 grams, sublinear tf) + L2 logistic regression (scikit-learn); seconds on a CPU."""

    family = "non-neural"
    uses_gpu = False  # scikit-learn on the CPU

    PARAM_RANGES = {"ngram_max": "x >= 1", "C": "x > 0", "max_iter": "x >= 1", "class_weight": CLASS_WEIGHTS}

    def __init__(self, ngram_max: int = 2, C: float = 1.0, max_iter: int = 1000, class_weight: str = "auto"):
        self.ngram_max = ngram_max
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight  # "balanced": classes weighted by n / (k x count); "auto": for_task decides

    def fit_predict(self, train: Examples, test: Examples, num_labels: int, seed: int) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, self.ngram_max), sublinear_tf=True),
            LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed,
                               class_weight=_sklearn_weights(class_weights(train.labels, num_labels, self.class_weight))),
        )
        model.fit([join_fields(t, " [SEP] ") for t in train.texts], train.labels)
        return model.predict([join_fields(t, " [SEP] ") for t in test.texts])


def _sklearn_weights(weights: np.ndarray | None) -> dict | None:
    return None if weights is None else {c: float(w) for c, w in enumerate(weights)}
