"""Hub tasks through ``datasets.load_dataset``, for users with a network or a filled HF cache.

GLUE tasks are scored on GLUE validation (validation_matched for MNLI), as in the DiLM paper, since
GLUE test labels are hidden; validation is carved from train. Without the hub, loading fails with an
error that says so and names the offline tasks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from benchmark.core.errors import MissingAssetError
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task
from benchmark.tasks.trec6 import TREC_MEANINGS

OFFLINE_TASKS = "rt-polarity, trec6, sms-spam, bbc-news"


@dataclass
class HubTask(Task):
    """A task read from a hub dataset: ``hub_columns`` are its text columns (in field order)."""

    hub_path: ClassVar[str] = ""
    hub_config: ClassVar[str | None] = None
    hub_columns: ClassVar[tuple[str, ...]] = ("text",)
    hub_label: ClassVar[str] = "label"
    hub_train: ClassVar[str] = "train"
    hub_test: ClassVar[str] = "test"

    def _load(self, split: str) -> Examples:
        try:
            from datasets import load_dataset

            data = load_dataset(self.hub_path, self.hub_config, split=split)
        except Exception as exc:  # no network, not cached, or no such dataset: one clear message
            raise MissingAssetError(
                f"cannot load hub dataset {self.hub_path}{'/' + self.hub_config if self.hub_config else ''} "
                f"(split {split}) for task {self.name!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}. "
                f"It needs the Hugging Face hub or a filled HF cache; offline tasks: {OFFLINE_TASKS}.") from None
        labels = np.asarray(data[self.hub_label], dtype=np.int64)
        keep = labels >= 0  # GLUE marks hidden labels with -1
        columns = [data[c] for c in self.hub_columns]
        texts = tuple(tuple(str(col[i]) for col in columns) for i in np.flatnonzero(keep))
        return Examples(texts, labels[keep])

    def load_examples(self) -> Examples:
        return self._load(self.hub_train)

    def load_given_test(self) -> Examples:
        return self._load(self.hub_test)


def _hub_task(name, path, config, columns, fields, labels, test, metric="accuracy", label="label", doc="", words=()):
    cls = type(name.replace("-", "_").title().replace("_", ""), (HubTask,), {
        "__doc__": doc, "name": name, "hub_path": path, "hub_config": config, "hub_columns": columns,
        "text_fields": fields, "label_names": labels, "hub_test": test, "metric": metric, "hub_label": label,
        "words": words,
        "__module__": __name__, "__annotations__": {}})
    return TASKS.register(name)(dataclass(cls))


_hub_task("sst2", "nyu-mll/glue", "sst2", ("sentence",), ("sentence",), ("negative", "positive"), "validation",
          doc="GLUE SST-2 sentiment (hub); test = GLUE validation (872), as in the DiLM paper.")
_hub_task("qqp", "nyu-mll/glue", "qqp", ("question1", "question2"), ("question1", "question2"),
          ("not_duplicate", "duplicate"), "validation", metric="acc_and_f1", words=("unequal", "equal"),
          doc="GLUE QQP duplicate questions, a sentence pair (hub); test = GLUE validation; metric mean(acc, F1).")
_hub_task("mnli", "nyu-mll/glue", "mnli", ("premise", "hypothesis"), ("premise", "hypothesis"),
          ("entailment", "neutral", "contradiction"), "validation_matched",
          doc="GLUE MNLI, a sentence pair (hub); test = validation_matched (9,815), as in the DiLM paper.")
_hub_task("rotten_tomatoes", "cornell-movie-review-data/rotten_tomatoes", None, ("text",), ("sentence",),
          ("negative", "positive"), "test", doc="Rotten Tomatoes sentence polarity from the hub (its own test split).")
_hub_task("ag_news", "fancyzhx/ag_news", None, ("text",), ("text",), ("World", "Sports", "Business", "Sci/Tech"),
          "test", doc="AG News topic, 4 classes (hub; its own test split).")
TREC_HUB_LABELS = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")  # the hub dataset's label order
_hub_task("trec", "CogComp/trec", None, ("text",), ("question",), TREC_HUB_LABELS, "test", label="coarse_label",
          words=tuple(TREC_MEANINGS[name] for name in TREC_HUB_LABELS), doc="TREC coarse question type from the hub (its own test split of 500).")
