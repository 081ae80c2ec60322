"""The fidelity measures: test-split overlap against hand-made pairs, the judge on sets with known labels,
diversity, and the measures reaching the records, the leaderboard and the clean-test re-scoring."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.study.fidelity import SplitIndex, diversity, words

TEST = [("the film is a winning comedy that excites the imagination and tickles the funny bone",),
        ("a dull , lifeless mess",),
        ("Isabelle Huppert excels as the enigmatic Mika",)]


@pytest.mark.parametrize("text, kind, rows", [
    (("The film is a winning comedy that excites the imagination and tickles the funny bone!",), "exact", {0}),
    (("a winning comedy that excites the imagination and tickles",), "near", {0}),  # a shared 8-word sequence
    (("a lifeless , dull mess",), "near", {1}),  # the same word set, reordered: Jaccard 1
    (("Huppert excels as the enigmatic Mika",), "near", {2}),  # Jaccard 6/7 >= 0.8
    (("Huppert excels as Mika",), "", set()),  # Jaccard 4/7: not a duplicate
    (("a winning comedy that excites the imagination",), "", set()),  # only 7 words shared in order
])
def test_overlap_against_hand_made_pairs(text, kind, rows):
    assert SplitIndex(TEST).matches(text) == (kind, rows)


def test_near_duplicates_match_a_brute_force_search_over_every_row():
    """The Jaccard search checks only rows holding one of a text's rarest tokens: it finds what comparing
    against every test row finds (random texts over a 12-word vocabulary, so many pairs are near)."""
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(12)]
    rows = [(" ".join(rng.choice(vocabulary, rng.integers(1, 9))),) for _ in range(300)]
    index = SplitIndex(rows)
    found = 0
    for _ in range(200):
        mine = set(words(" ".join(rng.choice(vocabulary, rng.integers(1, 9)))))
        brute = {i for i, (other,) in enumerate(rows)
                 if len(mine & set(words(other))) / len(mine | set(words(other))) >= 0.8}
        assert {i for i in index._jaccard_candidates(mine)} >= brute
        kind, hits = index.matches((" ".join(sorted(mine)) + " x",))  # " x": never an exact duplicate
        assert hits >= {i for i, (other,) in enumerate(rows)
                        if len((mine | {"x"}) & set(words(other))) / len((mine | {"x"}) | set(words(other))) >= 0.8}
        found += len(brute)
    assert found > 100


def test_mean_pairwise_distance_equals_the_full_distance_matrix():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_distances

    from benchmark.study.fidelity import joined

    rng = np.random.default_rng(1)
    texts = [(" ".join(rng.choice(["good", "bad", "film", "plot", "very", "dull", "fun"], rng.integers(1, 7))),)
             for _ in range(40)] + [("",)]
    vectors = TfidfVectorizer(tokenizer=words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                              sublinear_tf=True).fit_transform([joined(t) for t in texts])
    full = cosine_distances(vectors)[np.triu_indices(len(texts), 1)].mean()
    assert diversity(texts)["mean_pairwise_distance"] == pytest.approx(round(float(full), 4), abs=1e-4)


def test_words_are_lowercased_and_keep_contractions():
    assert words("It's a FINE film, isn't it?") == ["it's", "a", "fine", "film", "isn't", "it"]


def test_diversity_counts_distinct_bigrams():
    same = [("a b c",), ("a b c",)]
    assert diversity(same) == {"distinct_2": 0.5, "mean_pairwise_distance": 0.0}
    apart = diversity([("a b c",), ("x y z",)])
    assert apart["distinct_2"] == 1.0 and apart["mean_pairwise_distance"] == pytest.approx(1.0)


def test_fold_judges_each_miss_exactly_their_fold_and_a_tiny_class_falls_back_to_in_sample():
    """With a class of 3 train texts there are 3 folds, so every fold judge still sees every class; each train
    text's verdict is that of a judge refitted here without its fold. A class of one train text cannot be held out:
    the judge says it judges in sample."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from benchmark.study.fidelity import Judge, joined

    def task(n_bad, n_good):
        rng = np.random.default_rng(n_bad)
        bad = ["dull", "awful", "boring", "flat", "weak"]
        good = ["great", "fun", "lovely", "sharp", "warm"]
        texts = [(" ".join(rng.choice(bad if i < n_bad else good, 3)) + f" film {i}",) for i in range(n_bad + n_good)]
        return _tiny_task(texts, [0] * n_bad + [1] * n_good)

    judge = Judge(task(3, 12))
    train = judge.task.splits.train
    verdicts = judge.predict(train.texts)
    assert judge.describe()["train_texts"] == "out of fold (3 folds)"
    for kept, held in StratifiedKFold(3, shuffle=True, random_state=0).split(np.zeros(15), train.labels):
        reference = clone(judge.model).fit([joined(train.texts[i]) for i in kept], train.labels[kept])
        assert np.array_equal(verdicts[held], reference.predict([joined(train.texts[i]) for i in held]))
    outside = [("dull awful boring",), ("great lovely fun",)]  # not train texts: the judge trained on all of train
    assert np.array_equal(judge.predict(outside), judge.model.predict([joined(t) for t in outside]))
    tiny = Judge(task(1, 12))
    assert tiny.describe()["train_texts"] == "in sample (a class too small to hold out)"
    texts = tiny.task.splits.train.texts
    assert np.array_equal(tiny.predict(texts), tiny.model.predict([joined(t) for t in texts]))


def _tiny_task(texts, labels):
    from types import SimpleNamespace

    from benchmark.tasks.base import Examples

    validation = Examples((("dull boring",), ("great fun",)), np.array([0, 1]))
    return SimpleNamespace(splits=SimpleNamespace(train=Examples(tuple(texts), np.array(labels)), validation=validation),
                           label_names=("bad", "good"))


def test_a_text_twice_in_train_is_judged_by_a_judge_that_saw_neither_copy():
    """Two copies of one review in the train split (one shouted, with punctuation: the same words) fall in different
    folds; the verdict comes from a judge trained without both, checked against one refitted here. Copies that
    would leave a fold without a class make the judge judge in sample, and say so."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from benchmark.study.fidelity import Judge, joined, key

    rng = np.random.default_rng(3)
    words_of = (["dull", "awful", "boring", "flat"], ["great", "fun", "lovely", "warm"])
    labels = [i % 2 for i in range(40)]
    texts = [(" ".join(rng.choice(words_of[c], 3)) + f" film {i}",) for i, c in enumerate(labels)]
    texts[2] = ("great lovely warm film zz",)  # class 0 in positive words
    texts[10] = ("GREAT, lovely warm film ZZ!",)  # row 10 copies row 2 (the same words)
    judge = Judge(_tiny_task(texts, labels))
    fold_of, judges = judge.held_out
    copies = [i for i, t in enumerate(texts) if key(t) == key(texts[2])]
    folds = list(StratifiedKFold(judge.folds, shuffle=True, random_state=0).split(np.zeros(40), labels))
    held_in = {f for f, (_, held) in enumerate(folds) for i in copies if i in held}
    assert copies == [2, 10] and len(held_in) == 2  # the copies sit in two folds
    fold = fold_of[key(texts[2])]
    trained_on = [i for i in folds[fold][0] if i not in copies]
    reference = clone(judge.model).fit([joined(texts[i]) for i in trained_on], np.array(labels)[trained_on])
    probe = [texts[2], texts[10]]
    assert np.array_equal(judge.predict(probe), reference.predict([joined(t) for t in probe]))
    def same(a, b):
        return a[-1].coef_.shape == b[-1].coef_.shape and np.allclose(a[-1].coef_, b[-1].coef_)

    assert same(judges[fold], reference)  # the very judge: the weights of the one refitted without both copies
    one_copy_seen = clone(judge.model).fit([joined(texts[i]) for i in folds[fold][0]], np.array(labels)[folds[fold][0]])
    assert not same(judges[fold], one_copy_seen)  # a judge that kept the other copy is another judge
    # a class of two copies of one text, in 2 folds: each fold judge would lose the whole class
    twins = Judge(_tiny_task([("dull film",), ("Dull film!",)] + [(f"great fun {i}",) for i in range(12)],
                             [0, 0] + [1] * 12))
    assert twins.describe()["train_texts"] == "in sample (a class too small to hold out)"


@pytest.mark.real
def test_the_judge_reads_known_labels(rt_assets):
    from benchmark.study.fidelity import Judge, fidelity
    from benchmark.tasks import load_task

    task = load_task("rt-polarity")
    judge = Judge(task)
    validation = task.splits.validation
    texts, labels = validation.texts[:400], validation.labels[:400]
    right = fidelity(texts, labels, judge, SplitIndex(task.splits.test.texts))
    wrong = fidelity(texts, 1 - labels, judge, SplitIndex(task.splits.test.texts))
    assert right["on_label_share"] > 0.7 and right["on_label_share"] + wrong["on_label_share"] == pytest.approx(1.0)
    assert judge.describe()["validation_accuracy"] > 0.7 and judge.c in (0.25, 1.0, 4.0, 16.0)
    own = fidelity(task.splits.test.texts[:10], task.splits.test.labels[:10], judge, SplitIndex(task.splits.test.texts))
    assert own["exact_test_duplicates"] == 10 and own["overlapped_test_rows"] == list(range(10))
    # per text, for the HTML pages: the judge's label and the kind of test overlap
    assert np.mean(np.array(right["verdicts"]) == labels) == pytest.approx(right["on_label_share"], abs=1e-4)
    assert right["verdicts"] == wrong["verdicts"] and own["overlap_kinds"] == ["exact"] * 10
    # a pool of candidates is judged as a whole: the pool of known labels scores as the set of the same texts does
    assert "candidate_on_label_share" not in right
    both = validation.subset(np.r_[[np.flatnonzero(validation.labels == c)[:150] for c in (0, 1)]].ravel())
    alone = fidelity(both.texts, both.labels, judge, SplitIndex(task.splits.test.texts))
    pooled = fidelity(texts[:10], labels[:10], judge, SplitIndex(task.splits.test.texts), both)
    assert pooled["n_candidates"] == 300 and pooled["candidate_on_label_share"] == alone["on_label_share"]
    assert pooled["candidate_on_label_per_class"] == alone["on_label_per_class"]
    assert 0.5 < alone["on_label_per_class"][0] < 1 and 0.5 < alone["on_label_per_class"][1] < 1


@pytest.mark.real
def test_a_train_split_text_is_judged_by_a_judge_that_never_saw_it(rt_assets):
    """A coreset's real examples are judged out of sample, as generated text is: by the fold judge trained without
    them (checked against a judge refitted here on the train split minus that fold), not by the judge that memorised
    them; texts outside the train split (validation, generated) get the judge trained on the whole train split."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from benchmark.study.fidelity import FOLDS, Judge, joined
    from benchmark.tasks import load_task

    task = load_task("rt-polarity")
    judge, train, validation = Judge(task), task.splits.train, task.splits.validation
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(np.zeros(len(train.labels)), train.labels))
    kept, held = folds[2]
    reference = clone(judge.model).fit([joined(train.texts[i]) for i in kept], train.labels[kept])
    rows = held[:300]
    texts = [train.texts[i] for i in rows]
    assert np.array_equal(judge.predict(texts), reference.predict([joined(t) for t in texts]))
    shouted = [(t[0].upper() + " !",) for t in texts]  # the same words: the same text for the judge
    assert np.array_equal(judge.predict(shouted), judge.predict(texts))
    in_sample = float((judge.model.predict([joined(t) for t in texts]) == train.labels[rows]).mean())
    out_of_fold = float((judge.predict(texts) == train.labels[rows]).mean())
    assert in_sample > 0.95 and 0.6 < out_of_fold < 0.85  # memory vs what the judge reads in a text it never saw
    outside = validation.texts[:300]
    assert np.array_equal(judge.predict(outside), judge.model.predict([joined(t) for t in outside]))
    assert judge.describe()["train_texts"] == "out of fold (5 folds)"


@pytest.mark.real
def test_run_measures_its_sets_and_the_leaderboard_shows_them(tmp_path, rt_assets, capsys):
    from benchmark.cli import main

    runs, out = tmp_path / "runs", tmp_path / "out"
    assert main(["run", "--methods", "random", "kmeans-centers", "--no-reference", "--learners", "tfidf-logreg",
                 "--dpcs", "5", "--n-sets", "2", "--runs-dir", str(runs), "--out", str(out), "--no-progress"]) == 0
    board = out
    text = (board / "leaderboard.md").read_text()
    assert "### Fidelity of the text sets: rt-polarity" in text and "judge trained without it" in text
    import pandas as pd

    fidelity = pd.read_csv(board / "fidelity.csv")
    assert set(fidelity["method"]) == {"Random", "kmeans-centers"} and len(fidelity) == 4
    assert main(["judge", str(runs), "--clean-against", "Random", "--no-progress"]) == 0  # overlaps nothing, or little
    assert "re-scored on the" in capsys.readouterr().out
    # a method whose sets were made on another machine (carried rows only): its sets must be here, and the error says how
    assert main(["judge", str(runs), "--clean-against", "DiLM (released)", "--out", str(tmp_path / "j"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no set of method 'DiLM (released)'" in err and "Random, kmeans-centers" in err and "--learners tfidf-logreg" in err
    assert not (tmp_path / "j").exists()  # nothing written


@pytest.mark.real
def test_a_set_that_gained_its_candidate_pool_is_judged_again(tmp_path, rt_assets):
    """A fidelity record made before the set had a pool (same rows, same checksum), or by an older judge, is
    measured again, and then left alone."""
    from benchmark.cli import main
    from benchmark.study.fidelity import judge_runs
    from benchmark.study.store import FIDELITY, Store
    from methods.base import DistilledSet

    runs = tmp_path / "runs"
    assert main(["run", "--methods", "random", "--no-reference", "--learners", "tfidf-logreg", "--dpcs", "5",
                 "--n-sets", "1", "--runs-dir", str(runs), "--out", str(tmp_path / "out"), "--no-progress", "--no-html"]) == 0
    store = Store(runs)
    cell = sorted(r["cell_id"] for r in store.done_records("distill"))[0]
    assert "candidate_on_label_share" not in store.record(FIDELITY, cell)
    directory = store.cell_dir("distill", cell)
    distilled = DistilledSet.load(directory)
    distilled.pool = distilled.examples
    distilled.save(directory)
    assert judge_runs(runs) == 1
    record = store.record(FIDELITY, cell)
    assert record["candidate_on_label_share"] == record["on_label_share"]  # its pool: the set's own texts
    assert judge_runs(runs) == 0
    # a record of an older judge (version 1 judged train-split texts in sample) is measured again
    import json

    record["judge"]["version"] = 1
    (store.cell_dir(FIDELITY, cell) / "record.json").write_text(json.dumps(record))
    from benchmark.api import report

    stale = "1 of the 1 text sets were measured by another judge (version 1; this code's: 2)"
    assert stale in report(runs, tmp_path / "report")  # the report says so, and how to measure them again
    assert judge_runs(runs) == 1 and store.record(FIDELITY, cell)["judge"]["version"] == 2
    assert judge_runs(runs) == 0 and stale not in report(runs, tmp_path / "report")
