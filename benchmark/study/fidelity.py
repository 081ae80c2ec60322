"""What a text set is made of: a judge's on-label share, its overlap with the test split, and its diversity.

- Judge: TF-IDF (word 1-2 grams, sublinear tf) + logistic regression trained on the task's train split, its C
  chosen on the validation split (never the test split). A set's on-label share is the share of its texts the
  judge assigns to the set's own label: generated text that reads as the other class teaches the wrong label.
  A text that is a train-split text (same word sequence) gets the verdict of a judge that did not train on it
  (cross-fitting over 5 folds, fewer when a class has fewer train texts; in sample, and said so, when a class has
  fewer than 2 or a fold would leave one out): real examples are judged out of sample, like generated ones.
- Overlap (leakage): a set text is an exact duplicate of a test text (same lower-cased word sequence), or a near
  duplicate (token-set Jaccard >= 0.8, or a shared 8-word sequence). A generator trained on a pool that holds the
  test sentences (SST-2's train split and rt-polarity's test split share Pang & Lee's pool) can copy them.
- Diversity: distinct bigrams / all bigrams, and the mean pairwise cosine distance in the judge's TF-IDF space.

A pair's two texts are joined with " | " for all three.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

JACCARD = 0.8
NGRAM = 8
C_GRID = (0.25, 1.0, 4.0, 16.0)
FOLDS = 5
VERSION = 2  # of the judge and the measures: part of every fidelity record (2: train-split texts judged out of fold)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def joined(text: tuple[str, ...]) -> str:
    return " | ".join(text)


def key(text: tuple[str, ...]) -> str:
    """A text's lower-cased word sequence: what makes two texts the same text (case and punctuation aside)."""
    return " ".join(words(joined(text)))


@dataclass
class Judge:
    """A task's train-split classifier (TF-IDF + logistic regression, C chosen on validation)."""

    task: object

    @cached_property
    def model(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        train, validation = self.task.splits.train, self.task.splits.validation
        best = None
        for c in C_GRID:
            model = make_pipeline(TfidfVectorizer(tokenizer=words, token_pattern=None, lowercase=False,
                                                  ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                                  LogisticRegression(C=c, max_iter=2000))
            model.fit([joined(t) for t in train.texts], train.labels)
            score = float((model.predict([joined(t) for t in validation.texts]) == validation.labels).mean())
            if best is None or score > best[0]:
                best = (score, c, model)
        self.validation_accuracy, self.c = best[0], best[1]
        return best[2]

    @cached_property
    def held_out(self) -> tuple[dict[str, int], list]:
        """(a train text's word sequence -> its fold, the fold judges each trained without their fold's texts); no
        fold judges when a class is too small to hold out (then train texts are judged in sample)."""
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        model, train = self.model, self.task.splits.train
        keys = [key(t) for t in train.texts]
        n_classes = len(self.task.label_names)
        n_folds = min(FOLDS, int(np.bincount(train.labels, minlength=n_classes).min()))
        if n_folds < 2:  # a class with one train text or none: no fold judge could see every class
            return {}, []
        splits = StratifiedKFold(n_folds, shuffle=True, random_state=0).split(np.zeros(len(keys)), train.labels)
        fold_of, kept_rows = {}, []
        for fold, (kept, held) in enumerate(splits):
            fold_of.update((keys[i], fold) for i in held)  # a text twice in train: the fold of its last copy
            kept_rows.append([i for i in kept if fold_of.get(keys[i], -1) != fold])  # and no copy of it is kept
        if any(len(np.unique(train.labels[kept])) < n_classes for kept in kept_rows):
            return {}, []  # copies of a small class's texts filled one fold: judged in sample, and said so
        return fold_of, [clone(model).fit([joined(train.texts[i]) for i in kept], train.labels[kept])
                         for kept in kept_rows]

    @property
    def folds(self) -> int:
        """How many fold judges read the train texts (0: judged in sample)."""
        return len(self.held_out[1])

    def predict(self, texts) -> np.ndarray:
        """The judge's label per text; a train-split text's from the fold judge that never saw it."""
        verdicts = self.model.predict([joined(t) for t in texts])
        fold_of, judges = self.held_out
        folds = np.array([fold_of.get(key(t), -1) for t in texts])
        for fold in set(folds.tolist()) - {-1}:
            rows = np.flatnonzero(folds == fold)
            verdicts[rows] = judges[fold].predict([joined(texts[i]) for i in rows])
        return verdicts

    def describe(self) -> dict:
        held = f"out of fold ({self.folds} folds)" if self.folds else "in sample (a class too small to hold out)"
        return {"kind": "tfidf-1-2gram+logreg", "C": self.c, "validation_accuracy": round(self.validation_accuracy, 4),
                "train_texts": held, "version": VERSION}


class SplitIndex:
    """A split's texts (the test split's), indexed for exact and near-duplicate lookups."""

    def __init__(self, texts):
        self.exact: dict[str, list[int]] = {}
        self.grams: dict[tuple, set[int]] = {}
        self.token_sets = []
        self.rows_with: dict[str, set[int]] = {}  # token -> the rows holding it
        for i, text in enumerate(texts):
            tokens = words(joined(text))
            self.exact.setdefault(" ".join(tokens), []).append(i)
            self.token_sets.append(set(tokens))
            for token in self.token_sets[-1]:
                self.rows_with.setdefault(token, set()).add(i)
            for gram in zip(*(tokens[k:] for k in range(NGRAM))):
                self.grams.setdefault(gram, set()).add(i)

    def matches(self, text: tuple[str, ...]) -> tuple[str, set[int]]:
        """("exact" | "near" | "", the test rows it duplicates)."""
        tokens = words(joined(text))
        exact = self.exact.get(" ".join(tokens))
        if exact:
            return "exact", set(exact)
        near = set().union(*(self.grams.get(g, set()) for g in zip(*(tokens[k:] for k in range(NGRAM)))))
        mine = set(tokens)
        if mine:
            near |= {i for i in self._jaccard_candidates(mine)
                     if len(mine & self.token_sets[i]) / len(mine | self.token_sets[i]) >= JACCARD}
        return ("near" if near else ""), near

    def _jaccard_candidates(self, mine: set[str]) -> set[int]:
        """Every row that can reach the Jaccard threshold with ``mine``, and few others (prefix filtering): such a
        row shares at least ceil(JACCARD x |mine|) of its tokens, so it holds one of any |mine| - that + 1 of them;
        the rarest are taken, so few rows are checked."""
        need = math.ceil(JACCARD * len(mine) - 1e-9)
        rarest = sorted(mine, key=lambda t: (len(self.rows_with.get(t, ())), t))[:len(mine) - need + 1]
        return set().union(*(self.rows_with.get(t, set()) for t in rarest))


def diversity(texts) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    grams = [g for t in texts for g in zip(words(joined(t)), words(joined(t))[1:])]
    distinct = len(set(grams)) / len(grams) if grams else 0.0
    if len(texts) < 2:
        return {"distinct_2": round(distinct, 4), "mean_pairwise_distance": None}
    vectors = TfidfVectorizer(tokenizer=words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                              sublinear_tf=True).fit_transform([joined(t) for t in texts])
    # rows are unit vectors (or zero): the pairs' cosine similarities sum to (|sum of rows|^2 - sum of |row|^2) / 2,
    # so the mean distance needs no n x n matrix (the Full set's 8.5k rows would need 0.6 GB)
    total = np.asarray(vectors.sum(axis=0)).ravel()
    pairs = len(texts) * (len(texts) - 1) / 2
    similarity = (float(total @ total) - float(vectors.multiply(vectors).sum())) / 2
    return {"distinct_2": round(distinct, 4), "mean_pairwise_distance": round(1 - similarity / pairs, 4)}


def on_label_shares(verdicts: np.ndarray, labels: np.ndarray) -> tuple[float, dict[int, float]]:
    """The share of texts whose verdict is their label, overall and per class."""
    hits = verdicts == labels
    return round(float(hits.mean()), 4), {int(c): round(float(hits[labels == c].mean()), 4) for c in np.unique(labels)}


def fidelity(texts, labels, judge: Judge, index: SplitIndex, pool=None) -> dict:
    """One set's measures (and the test rows it overlaps, for re-scoring on the rest); with the ``pool`` of
    candidates it was chosen from (Examples), the judge's on-label share of the whole pool too: the generator's
    conditioning, apart from what the selection kept."""
    labels = np.asarray(labels)
    verdicts = np.asarray(judge.predict(texts))
    share, per_class = on_label_shares(verdicts, labels)
    candidates = {}
    if pool is not None and len(pool):
        pool_share, pool_per_class = on_label_shares(np.asarray(judge.predict(pool.texts)), pool.labels)
        candidates = {"n_candidates": len(pool), "candidate_on_label_share": pool_share,
                      "candidate_on_label_per_class": pool_per_class}
    kinds, rows = [], set()
    for text in texts:
        kind, hit = index.matches(text)
        kinds.append(kind)
        rows |= hit
    n = len(texts)
    return {"n_texts": n, "on_label_share": share, "on_label_per_class": per_class,
            "exact_test_duplicates": kinds.count("exact"), "near_test_duplicates": kinds.count("near"),
            "overlap_share": round((n - kinds.count("")) / n, 4) if n else 0.0,
            "overlapped_test_rows": sorted(rows), **diversity(texts), **candidates, "judge": judge.describe(),
            "verdicts": [int(v) for v in verdicts], "overlap_kinds": kinds}  # per text, for the HTML cell pages



def judge_runs(runs_dir, distill_ids: set[str] | None = None, progress: bool = False, warn=None) -> int:
    """Measure every finished text set of the runs folder (or of ``distill_ids``) that has no fidelity record yet, or
    one that misses its candidate pool's measure; returns how many were measured. Judges and test indexes are built
    once per task. A set the judge cannot measure (its task no longer loads, a judge that cannot be trained) gets
    ``error.json`` with the reason in its fidelity folder (``warn`` is told): its fidelity is unavailable, the other
    sets and the leaderboard go on."""
    from pathlib import Path

    from tqdm.auto import tqdm

    from benchmark.study.store import FIDELITY, Store
    from benchmark.tasks import load_task
    from methods.base import DistilledSet

    store = Store(Path(runs_dir))
    records = [r for r in store.done_records("distill") if (distill_ids is None or r["cell_id"] in distill_ids)
               and r.get("distilled", {}).get("kind", "text") == "text"]
    judges: dict = {}
    measured = 0
    for record in tqdm(records, desc="fidelity", unit="set", disable=not progress or not records):
        distilled = DistilledSet.load(store.cell_dir("distill", record["cell_id"]))
        checksum = distilled.checksum()
        with store.claim(FIDELITY, record["cell_id"]) as claimed:  # another runner may be judging the same set
            measured_before = store.record(FIDELITY, record["cell_id"]) if store.is_done(FIDELITY, record["cell_id"]) \
                else None
            if not claimed or (measured_before and measured_before.get("set_checksum") == checksum
                               and measured_before.get("judge", {}).get("version") == VERSION
                               and (distilled.pool is None or "candidate_on_label_share" in measured_before)):
                continue  # being measured elsewhere, or measured (per text, and its pool) and not made again
            config = record["config"]
            try:
                judge, index = _judge_of(judges, config["task"], load_task)
                measures = fidelity(distilled.examples.texts, distilled.labels, judge, index, distilled.pool)
            except Exception as exc:  # noqa: BLE001 -- one set's judge must not take down the run or its leaderboard
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                store.prepare(FIDELITY, record["cell_id"])
                store.fail(FIDELITY, record["cell_id"], {"distill_cell": record["cell_id"], "config": config,
                                                         "unavailable": True, "error": reason})
                if warn is not None:
                    warn(f"warning: fidelity of set {record['cell_id']} unavailable ({reason}); recorded in "
                         f"{store.cell_dir(FIDELITY, record['cell_id']) / 'error.json'}, the leaderboard goes on")
                continue
            store.prepare(FIDELITY, record["cell_id"])
            store.finish(FIDELITY, record["cell_id"], {"distill_cell": record["cell_id"], "config": config,
                                                       "task": {"name": judge.task.record_name},
                                                       "described": record.get("described"),
                                                       "set_checksum": checksum, **measures})
            measured += 1
    return measured


def _judge_of(judges: dict, task_config: dict, load_task) -> tuple[Judge, SplitIndex]:
    """The task's judge and test index, built once per task; a task whose judge failed fails again at once."""
    task_key = json_key(task_config)
    if task_key not in judges:
        try:
            task = load_task(task_config["name"], tuple(sorted(task_config["params"].items())))
            judge = Judge(task)
            judge.model  # trained here: a failure is the task's, not one set's
            judges[task_key] = (judge, SplitIndex(task.splits.test.texts))
        except Exception as exc:  # noqa: BLE001 -- kept and re-raised for each of the task's sets
            judges[task_key] = exc
    if isinstance(judges[task_key], Exception):
        raise judges[task_key]
    return judges[task_key]


def json_key(component: dict) -> str:
    import json

    return json.dumps(component, sort_keys=True)
