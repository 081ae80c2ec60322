"""Sentence-pair tasks end to end, on real pair data: the DiLM authors' released QQP and MNLI sets used
as training data (no pair dataset ships offline). Learners read the two fields as a pair."""
import json
from dataclasses import dataclass

import numpy as np
import pytest

from benchmark.learners import LEARNERS
from benchmark.tasks.base import Examples, Task
from methods import METHODS

from conftest import RELEASE



def released_pairs(task: str, fields: tuple[str, str]) -> Examples:
    texts, labels = [], []
    for path in sorted((RELEASE / task / "dpc_20").glob("dataset_*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append((row[fields[0]], row[fields[1]]))
            labels.append(row["labels"])
    return Examples(tuple(texts), np.asarray(labels, dtype=np.int64))


@dataclass
class ReleasedQqp(Task):
    """QQP-format pairs from the released sets (800 pairs), a pair task for tests."""

    name = "qqp"
    text_fields = ("question1", "question2")
    label_names = ("not_duplicate", "duplicate")

    def load_examples(self) -> Examples:
        return released_pairs("qqp", self.text_fields)


@dataclass
class ReleasedMnli(Task):
    name = "mnli"
    text_fields = ("premise", "hypothesis")
    label_names = ("entailment", "neutral", "contradiction")

    def load_examples(self) -> Examples:
        return released_pairs("mnli", self.text_fields)


@pytest.mark.real
@pytest.mark.parametrize("task_cls", [ReleasedQqp, ReleasedMnli])
def test_pair_sets_train_learners_as_pairs(task_cls, release, minilm_assets):
    task = task_cls()
    distilled = METHODS.create("external", path=str(release), label="DiLM (released)").distill(task, 5, seed=3)
    assert distilled.per_class() == {name: 5 for name in task.label_names}
    assert all(len(t) == 2 and t[0] and t[1] for t in distilled.examples.texts)
    test = task.splits.test
    for learner in ("tfidf-logreg", "minilm"):
        params = {"steps": 5} if learner == "minilm" else {}
        predictions = LEARNERS.create(learner, **params).fit_predict(distilled.examples, test, task.num_classes, 0)
        assert predictions.shape == (len(test),) and set(predictions.tolist()) <= set(range(task.num_classes))
    from transformers import AutoTokenizer

    from benchmark.core.assets import minilm_path

    features = LEARNERS.create("minilm")._encode(AutoTokenizer.from_pretrained(minilm_path()), distilled.examples.texts[:1])
    assert features[0]["input_ids"].count(102) == 2 and 1 in features[0]["token_type_ids"]  # [SEP] a [SEP] b [SEP]
