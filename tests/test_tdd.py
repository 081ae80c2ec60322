"""TDD (embedding-level distillation): the unrolled update, the gradients it sends, the artifact on disk,
and the embedding-space rule (a set trains only learners of its space; other pairs are n/a)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from benchmark.study.grid import Component
from benchmark.study.cells import applicable
from methods.embedding_set import EmbeddingSet, inner_loss
from methods.tdd import unroll

RECIPE = {"space": "tiny", "steps": 2, "label_type": "soft", "attention_labels": False, "head_prefix": "classifier"}


@pytest.fixture(scope="module")
def tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                        num_labels=2, attn_implementation="eager")
    return BertForSequenceClassification(config).eval()


def tiny_tensors(attention: bool = False, requires_grad: bool = False):
    torch.manual_seed(1)
    tensors = {"inputs_embeds": torch.randn(4, 5, 8), "attention_mask": torch.ones(4, 5, dtype=torch.long),
               "targets": torch.softmax(torch.randn(4, 2), -1), "lrs": torch.tensor([[0.1, 0.5], [0.05, 0.3]]),
               "classes": torch.tensor([0, 0, 1, 1])}
    if attention:
        tensors["attention_labels"] = torch.randn(1, 4, 2, 5, 5)
    if requires_grad:
        for name in ("inputs_embeds", "targets", "lrs"):
            tensors[name].requires_grad_(True)
    return tensors


def test_unrolled_update_equals_manual_sgd_steps(tiny_bert):
    tensors = tiny_tensors(attention=True)
    recipe = {**RECIPE, "attention_labels": True, "attention_weight": 0.5}
    params = {k: v.detach().clone().requires_grad_(True) for k, v in tiny_bert.named_parameters()}
    unrolled = unroll(tiny_bert, params, tensors, tensors["lrs"], recipe, create_graph=False)

    manual = copy.deepcopy(tiny_bert)
    for encoder_lr, head_lr in tensors["lrs"].tolist():
        manual.zero_grad()
        inner_loss(manual, tensors, recipe, params=None).backward()
        with torch.no_grad():
            for name, p in manual.named_parameters():
                if p.grad is not None:
                    p -= (head_lr if name.startswith("classifier") else encoder_lr) * p.grad
    for name, p in manual.named_parameters():
        torch.testing.assert_close(unrolled[name], p, rtol=1e-5, atol=1e-6, msg=name)

    trained = copy.deepcopy(tiny_bert)  # the artifact's own recipe (what learners run) is the same update
    EmbeddingSet(tensors, recipe, ("neg", "pos")).train(trained)
    for name, p in trained.named_parameters():
        torch.testing.assert_close(unrolled[name], p, rtol=1e-5, atol=1e-6, msg=name)


def test_gradients_reach_embeddings_labels_rates_and_attention_labels(tiny_bert):
    from torch.func import functional_call

    tensors = tiny_tensors(attention=True, requires_grad=True)
    tensors["attention_labels"].requires_grad_(True)
    recipe = {**RECIPE, "attention_labels": True}
    params = {k: v.detach().clone().requires_grad_(True) for k, v in tiny_bert.named_parameters()}
    after = unroll(tiny_bert, params, tensors, tensors["lrs"], recipe)
    real = {"input_ids": torch.randint(0, 50, (6, 7)), "attention_mask": torch.ones(6, 7, dtype=torch.long)}
    outer = torch.nn.functional.cross_entropy(functional_call(tiny_bert, after, (), real).logits,
                                              torch.tensor([0, 1, 0, 1, 0, 1]))
    learned = ["inputs_embeds", "targets", "lrs", "attention_labels"]
    grads = torch.autograd.grad(outer, [tensors[k] for k in learned])
    for name, grad in zip(learned, grads):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_artifact_round_trips_bit_exactly(tmp_path):
    tensors = tiny_tensors(attention=True)
    artifact = EmbeddingSet(tensors, {**RECIPE, "attention_labels": True}, ("neg", "pos"), {"method": "tdd"})
    artifact.save(tmp_path / "set")
    from methods.base import load_distilled

    loaded = load_distilled(tmp_path / "set")
    assert isinstance(loaded, EmbeddingSet) and loaded.kind == "embedding"
    assert loaded.checksum() == artifact.checksum()
    for name, tensor in tensors.items():
        assert torch.equal(loaded.tensors[name], tensor) and loaded.tensors[name].dtype == tensor.dtype, name
    assert loaded.recipe == artifact.recipe and loaded.per_class() == {"neg": 2, "pos": 2}


def test_a_learner_of_another_embedding_space_refuses_the_set_with_the_reason():
    from benchmark.learners import LEARNERS

    artifact = EmbeddingSet(tiny_tensors(), {**RECIPE, "space": "minilm"}, ("neg", "pos"))
    learner = LEARNERS.create("bert-base-uncased")
    with pytest.raises(ValueError, match="embeds text with 'bert-base-uncased'.*space of 'minilm'.*tdd-text"):
        learner.fit_predict_embedded(artifact, None, 2, seed=0)


def test_embedding_sets_apply_only_to_learners_of_their_space():
    tdd = Component("tdd")
    assert applicable(tdd, Component("minilm"))
    assert not applicable(tdd, Component("tfidf-logreg"))
    assert not applicable(tdd, Component("bert-base-uncased"))
    assert not applicable(tdd, Component("smollm2-clf"))
    assert applicable(Component("tdd", (("preset", "paper"),)), Component("bert-base-uncased"))
    assert applicable(Component("tdd-text"), Component("tfidf-logreg"))  # text trains anything


def test_projection_to_text_gives_the_nearest_vocabulary_tokens(minilm_assets):
    from benchmark.core.classifiers import load_classifier
    from methods.tdd import project_to_text

    tokenizer, model = load_classifier("minilm", 2, "cpu", 0)
    ids = tokenizer(["a gripping , funny film", "dull"], padding="max_length", max_length=8, return_tensors="pt")
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids["input_ids"])
    noisy = embeds + 1e-4 * torch.randn_like(embeds)  # a point near each token's embedding
    artifact = EmbeddingSet({"inputs_embeds": noisy, "attention_mask": ids["attention_mask"],
                             "targets": torch.eye(2), "lrs": torch.tensor([[1e-4, 0.1]]), "classes": torch.tensor([1, 0])},
                            {**RECIPE, "space": "minilm"}, ("neg", "pos"))
    texts = project_to_text(artifact, "minilm", 1)
    assert texts == [("a gripping, funny film",), ("dull",)] or texts == [("a gripping , funny film",), ("dull",)]
    assert np.array_equal(artifact.labels, [1, 0])


class Interrupt(Exception):
    pass


def test_a_killed_tdd_optimisation_resumes_from_its_last_checkpoint(tiny_task, tiny_learner_dir, tmp_path, monkeypatch):
    """Killed in outer step 5 with a checkpoint after every step, the optimisation resumes after step 4 and ends
    bit-exactly where an uninterrupted run ends (learned tensors, the best snapshot, its validation score)."""
    import methods.tdd as tdd
    from dilm.checkpoint import Schedule

    cfg = {**tdd.TDD(model=str(tiny_learner_dir), **tdd.TDD.TEST_PARAMS, device="cpu").config(), "outer_steps": 6}
    original, seen = tdd.unroll, []

    def watched_unroll(model, params, tensors, *args, **kwargs):  # what each step starts from: head draw, data
        seen.append((sum(float(v.detach().sum()) for v in params.values()), float(tensors["inputs_embeds"].detach().sum()),
                     float(tensors["targets"].detach().sum())))
        if len(seen) == die_at:
            raise Interrupt
        return original(model, params, tensors, *args, **kwargs)

    monkeypatch.setattr(tdd, "unroll", watched_unroll)
    die_at = None
    straight = tdd.distill_embeddings(tiny_task, cfg, dpc=2, seed=0)
    straight_steps, seen[:] = list(seen), []
    die_at = 5
    with pytest.raises(Interrupt):
        tdd.distill_embeddings(tiny_task, cfg, 2, 0, tmp_path / "ckpt", Schedule(0))
    seen[:], die_at = [], None
    resumed = tdd.distill_embeddings(tiny_task, cfg, 2, 0, tmp_path / "ckpt")
    assert resumed.provenance["resumed_after_step"] == 4 and straight.provenance["resumed_after_step"] == 0
    assert seen == straight_steps[4:]  # steps 5 and 6 start exactly where the uninterrupted run's did
    assert resumed.provenance["validation_accuracy"] == straight.provenance["validation_accuracy"]
    assert resumed.checksum() == straight.checksum()
