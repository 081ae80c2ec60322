"""Tasks: labelled text datasets with named text fields, label names, seeded splits and a metric."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from benchmark.core.cache import cache_kind
from benchmark.core.errors import UsageError


@dataclass(frozen=True)
class Examples:
    """Labelled texts: ``texts[i]`` is a tuple with one string per text field, ``labels[i]`` an int."""

    texts: tuple[tuple[str, ...], ...]
    labels: np.ndarray

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> "Examples":
        indices = np.asarray(indices, dtype=int)
        return Examples(tuple(self.texts[i] for i in indices), self.labels[indices])

    def deduplicated(self) -> "Examples":
        """The first occurrence of each distinct text (so that no text lands in two splits)."""
        seen, keep = set(), []
        for i, text in enumerate(self.texts):
            if text not in seen:
                seen.add(text)
                keep.append(i)
        return self.subset(keep)

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)

    def checksum(self) -> str:
        """sha256 (first 16 hex digits) of the examples in order: identifies a split exactly."""
        h = hashlib.sha256()
        for text, label in zip(self.texts, self.labels.tolist()):
            h.update(json.dumps([list(text), label], ensure_ascii=False).encode())
            h.update(b"\n")
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class TaskSplits:
    """train / validation (carved from train) / test. The test split is used for scoring only."""

    train: Examples
    validation: Examples
    test: Examples

    def checksums(self) -> dict[str, str]:
        return {name: getattr(self, name).checksum() for name in ("train", "validation", "test")}

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("train", "validation", "test")}


def stratified_split(labels: np.ndarray, fraction: float, seed: int, what: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out): a seeded split holding out ``fraction`` of each class. Too few rows for that (each
    class needs 2, each side as many rows as there are classes) is a UsageError that states the minimum."""
    import math

    classes, counts = np.unique(labels, return_counts=True)
    def fits(n: int) -> bool:  # the held-out side and the kept side each hold one row of every class
        return math.ceil(fraction * n) >= len(classes) and n - math.ceil(fraction * n) >= len(classes)

    need = next(n for n in range(2 * len(classes), 10 ** 9) if fits(n))
    if (counts.min() if len(counts) else 0) < 2 or not fits(len(labels)):
        raise UsageError(f"{what}: {len(labels)} rows are too few to hold out {fraction:.0%} stratified over "
                         f"{len(classes)} classes (class sizes {dict(zip(classes.tolist(), counts.tolist()))}): this "
                         f"split needs at least {need} rows and 2 per class; add rows or lower the fraction")
    return _cached_split(labels, fraction, seed)


SPLITS_CACHE = cache_kind("splits", "tasks' seeded stratified split indices (scikit-learn's, kept to skip its import)")


def _cached_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's seeded stratified split, kept in the user cache (keyed by the labels, fraction, seed and
    scikit-learn's version): a warm run does not pay the ~2 s of importing scikit-learn to repeat it."""
    import hashlib
    import json
    from importlib.metadata import version

    from benchmark.core.cache import cache_root
    from benchmark.core.durable import read_or_set_aside, save_npz

    key = hashlib.sha256(json.dumps([np.asarray(labels).tolist(), fraction, seed, version("scikit-learn")],
                                    default=str).encode()).hexdigest()[:32]
    path = cache_root() / SPLITS_CACHE / f"{key}.npz"

    def read(path):
        with np.load(path) as saved:
            kept, held_out = saved["kept"], saved["held_out"]
        if len(kept) + len(held_out) != len(labels):
            raise ValueError(f"{len(kept)} + {len(held_out)} indices for {len(labels)} rows")
        return kept, held_out

    saved = read_or_set_aside(path, read)
    if saved is not None:
        return saved
    from sklearn.model_selection import train_test_split

    kept, held_out = train_test_split(np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed)
    kept, held_out = np.sort(kept), np.sort(held_out)
    save_npz(path, kept=kept, held_out=held_out)
    return kept, held_out


@dataclass
class Task:
    """A text classification task. Subclasses implement ``load_examples`` (all labelled data).

    Exact duplicate texts are dropped (first kept), then splits are made here, seeded and stratified: ``test_fraction`` of the data is the test split,
    then ``validation_fraction`` of the rest is carved out as validation, the remainder is train.

    ``score_on: validation`` is for choosing settings: runs are scored on the validation split (the test split is
    never read), and a validation split of the same fraction is carved again from the rest of train; records and
    tables name the task "<name> (validation)".
    """

    split_seed: int = 0
    test_fraction: float = 0.1
    validation_fraction: float = 0.1
    score_on: str = "test"

    name: ClassVar[str] = ""
    text_fields: ClassVar[tuple[str, ...]] = ("text",)
    label_names: ClassVar[tuple[str, ...]] = ()
    words: ClassVar[tuple[str, ...]] = ()  # label words for prompts (in-context learning), when not the names
    metric: ClassVar[str] = "accuracy"
    PARAM_RANGES: ClassVar[dict] = {"split_seed": "x >= 0", "test_fraction": "0 < x < 1",
                                    "validation_fraction": "0 < x < 1", "score_on": ("test", "validation")}

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def record_name(self) -> str:
        """The task's name in records and tables: "<name> (validation)" when it is scored on validation."""
        return self.name if self.score_on == "test" else f"{self.name} ({self.score_on})"

    @property
    def label_words(self) -> tuple[str, ...]:
        """The words that name the classes in an ICL prompt: ``words`` where set, else the label names."""
        return self.words or self.label_names

    def get_params(self) -> dict:
        params = {"split_seed": self.split_seed, "test_fraction": self.test_fraction,
                  "validation_fraction": self.validation_fraction}
        return params if self.score_on == "test" else {**params, "score_on": self.score_on}

    def load_examples(self) -> Examples:
        raise NotImplementedError

    def load_given_test(self) -> Examples | None:
        """A test split the dataset comes with (GLUE validation), or None to carve one from the data."""
        return None

    @cached_property
    def splits(self) -> TaskSplits:
        data = self.load_examples().deduplicated()
        test_data = self.load_given_test()
        if test_data is None:
            rest, test = stratified_split(data.labels, self.test_fraction, self.split_seed,
                                          f"task {self.name!r}, test split")
            rest_data, test_data = data.subset(rest), data.subset(test)
        else:
            rest_data = data
        train, validation = stratified_split(rest_data.labels, self.validation_fraction, self.split_seed,
                                             f"task {self.name!r}, validation split")
        if self.score_on == "validation":  # score on validation; carve the methods' validation split again
            rest_data, test_data = rest_data.subset(train), rest_data.subset(validation)
            train, validation = stratified_split(rest_data.labels, self.validation_fraction, self.split_seed,
                                                 f"task {self.name!r}, validation split (score_on: validation)")
        elif self.score_on != "test":
            raise UsageError(f"task {self.name!r}: score_on must be 'test' or 'validation', got {self.score_on!r}")
        return TaskSplits(rest_data.subset(train), rest_data.subset(validation), test_data)

    def describe(self) -> dict:
        """What a record stores about the task: name, params, fields, labels, split sizes and checksums."""
        return {"name": self.record_name, "params": self.get_params(), "text_fields": list(self.text_fields),
                "label_names": list(self.label_names), "metric": self.metric,
                "split_sizes": self.splits.sizes(), "split_checksums": self.splits.checksums()}
