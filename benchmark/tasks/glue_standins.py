"""Stand-ins of GLUE tasks for `rehearse`, offline: a hub task (SST-2, QQP, MNLI) becomes a ``rehearsal`` task with
the same name, fields, labels and metric, the real train and test sizes and class shares, and texts cut from
rt-polarity's real sentences to the word counts of that task (quantiles measured on the DiLM authors' released sets,
which their GPT-2 generated after training on the real data). A task module like any other, so every process
(a Slurm job too) finds it in the registry.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.core.errors import UsageError
from benchmark.tasks import TASKS
from benchmark.tasks.base import Examples, Task

QUANTILES = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 100)
# Real GLUE sizes (train; test = GLUE validation) and train class shares; words per field at QUANTILES.
PROFILES = {
    "sst2": {"train": 67_349, "test": 872, "shares": (0.442, 0.558),
             "words": {"sentence": (2, 5, 7, 9, 12, 14, 16, 19, 22, 28, 32, 41, 55)}},
    "qqp": {"train": 363_846, "test": 40_430, "shares": (0.632, 0.368),
            "words": {"question1": (3, 7, 8, 9, 10, 10, 12, 13, 15, 18, 20, 27, 59),
                      "question2": (3, 7, 8, 9, 10, 11, 12, 14, 16, 19, 23, 31, 57)}},
    "mnli": {"train": 392_702, "test": 9_815, "shares": (1 / 3, 1 / 3, 1 / 3),
             "words": {"premise": (1, 7, 12, 19, 25, 30, 35, 40, 47, 60, 72, 113, 191),
                       "hypothesis": (2, 7, 9, 10, 12, 13, 15, 17, 20, 26, 31, 42, 124)}},
}


@TASKS.register("rehearsal")
@dataclass
class RehearsalTask(Task):
    """A stand-in of a hub task for `rehearse`: its name, fields, labels and sizes, real offline sentences cut to its lengths."""

    stands_for: str = "sst2"
    seed: int = 0

    def __post_init__(self):
        if self.stands_for not in PROFILES:
            raise UsageError(f"no rehearsal profile for task {self.stands_for!r}; profiles: {', '.join(PROFILES)} "
                             f"(offline tasks rehearse with their own data)")
        real = TASKS.get(self.stands_for)
        self.name, self.text_fields, self.label_names = real.name, real.text_fields, real.label_names
        self.words, self.metric = real.words, real.metric

    def get_params(self) -> dict:
        return {**super().get_params(), "stands_for": self.stands_for, "seed": self.seed}

    def _rows(self, n: int, seed: int, exclude: frozenset = frozenset()) -> Examples:
        """``n`` rows of word windows with the profile's lengths (none of whose texts is in ``exclude``) and exactly
        the profile's class shares."""
        profile = PROFILES[self.stands_for]
        rng = np.random.default_rng([self.seed, seed])
        words = source_words()
        texts: list[tuple[str, ...]] = []
        while len(texts) < n:
            m = n - len(texts)
            lengths = {f: np.interp(rng.uniform(0, 100, m), QUANTILES, q).round().astype(int).clip(1)
                       for f, q in profile["words"].items()}
            starts = {f: rng.integers(0, len(words) - 200, m) for f in profile["words"]}
            drawn = (tuple(" ".join(words[starts[f][i]:starts[f][i] + lengths[f][i]]) for f in profile["words"])
                     for i in range(m))
            texts += [t for t in drawn if t not in exclude]  # a given test split shares no text with train
        counts = np.floor(np.asarray(profile["shares"]) * n).astype(int)
        counts[: n - counts.sum()] += 1  # exact shares in every part, as a stratified split of the real data has
        labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
        return Examples(tuple(texts), labels.astype(np.int64))

    def load_examples(self) -> Examples:
        return self._rows(PROFILES[self.stands_for]["train"], 1)

    def load_given_test(self) -> Examples:
        return self._rows(PROFILES[self.stands_for]["test"], 2, frozenset(self.load_examples().texts))


def source_words() -> list[str]:
    """rt-polarity's sentences as one stream of words (real text, offline)."""
    from benchmark.tasks import load_task

    if not _WORDS:
        train = load_task("rt-polarity").load_examples()
        _WORDS.extend(w for (text,) in train.texts for w in text.split())
    return _WORDS


_WORDS: list[str] = []
