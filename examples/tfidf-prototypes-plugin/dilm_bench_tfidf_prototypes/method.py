"""tfidf-prototypes: per class, the DPC real examples most similar to the class's TF-IDF centroid.

An example of a plugin method with a real fit state: fit scores every train example once (cosine
similarity to its class centroid) and saves the scores; distill only ranks them, for any DPC.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from methods.base import DistilledSet, FitContext, Method, MethodCard, check_dpc, per_class_indices


class TfidfPrototypes(Method):
    """Per class, the DPC examples nearest the class's TF-IDF centroid (cosine); deterministic."""

    deterministic = True
    CARD = MethodCard(
        summary="Per class, the DPC real examples whose TF-IDF vectors are most similar (cosine) to the "
                "class centroid: prototypical examples, no neural encoder.",
        fit_cost="TF-IDF of the train split and one similarity per example (about a second)",
        distill_cost="a ranking per class (milliseconds)",
        citation="an example plugin of dilm-bench (no paper)",
    )

    def __init__(self, ngram_max: int = 1):
        self.ngram_max = ngram_max

    def fit(self, task, ctx: FitContext):
        from sklearn.feature_extraction.text import TfidfVectorizer

        train = task.splits.train
        vectors = TfidfVectorizer(ngram_range=(1, self.ngram_max)).fit_transform([" ".join(t) for t in train.texts])
        scores = np.zeros(len(train))
        for members in per_class_indices(train.labels, task.num_classes):
            centroid = np.asarray(vectors[members].mean(axis=0)).ravel()
            centroid /= np.linalg.norm(centroid) or 1.0
            scores[members] = vectors[members] @ centroid  # rows are L2-normalised: cosine similarity
        return task, scores

    def save_state(self, state, directory: Path) -> None:
        np.save(directory / "scores.npy", state[1])

    def load_state(self, directory: Path, task):
        return task, np.load(directory / "scores.npy")

    def distill(self, state, dpc: int, seed: int) -> DistilledSet:
        task, scores = state
        check_dpc(task, dpc)
        train = task.splits.train
        chosen = [members[np.argsort(-scores[members], kind="stable")[:dpc]]
                  for members in per_class_indices(train.labels, task.num_classes)]
        indices = np.concatenate(chosen)
        return self.make_set(task, train.subset(indices), dpc, seed, source_indices=indices)
