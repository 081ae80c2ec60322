"""The plugin's own tests: the method contract, and that the selection is the most central examples."""
import numpy as np

from benchmark.authoring.testing import TinySentiment, check_method_contract
from dilm_bench_tfidf_prototypes.method import TfidfPrototypes


def test_meets_the_method_contract():
    check_method_contract(TfidfPrototypes)


def test_selects_the_examples_most_similar_to_their_class_centroid():
    task = TinySentiment()
    method = TfidfPrototypes()
    _, scores = state = method.fit(task, None)
    distilled = method.distill(state, 3, seed=0)
    for label in (0, 1):
        members = np.flatnonzero(task.splits.train.labels == label)
        picked = distilled.source_indices[distilled.examples.labels == label]
        assert scores[picked].min() >= np.sort(scores[members])[-3]
