"""What GRADMM's inner pieces cost on this machine at the cpu preset's sizes (SmolLM2-135M-Instruct, gen_bs 10
sequences of rt-polarity's mean length, 26 free tokens + " It was"): one x-step (forward + backward to the inputs,
closed-form head gradient, cosine distance), one init candidate (forward only) and one projection (top-200 nearest
whitelisted tokens, LM-greedy with the released instruction prefix in a KV cache). The projection's
benchmark, run last, prints a cpu-preset fit's projected time from the three.

Run: ``.venv/bin/python -m pytest perf/test_gradmm_speed.py --benchmark-only -s``
"""
import math

import pytest
import torch

from dilm.gradmm.admm import Matcher
from dilm.gradmm.config import PRESETS
from dilm.gradmm.projection import Projector
from dilm.gradmm.text import Verbaliser, class_target, encode_texts, typical_norm, whitelist

CFG = PRESETS["cpu"]
FREE_TOKENS = 26  # rt-polarity's mean " sentence It was" length (~28 SmolLM2 tokens) minus the suffix
TIMES: dict = {}


@pytest.fixture(scope="module")
def parts():
    from benchmark.tasks import TASKS
    from methods.gradmm import load_lm

    model, tok = load_lm(CFG.model, "cpu")
    task = TASKS.create("rt-polarity")
    verbaliser = Verbaliser.build(tok, CFG.prompt_suffix, task.label_words)
    allowed = whitelist(tok, CFG.max_token_chars)
    train = task.splits.train
    texts = [train.texts[i][0] for i in range(200) if train.labels[i] == 1][:CFG.real_per_class]
    target = class_target(model, encode_texts(tok, texts, verbaliser.suffix_ids), verbaliser.label_ids[1])
    matcher = Matcher(model, verbaliser.suffix_ids, verbaliser.label_ids[1], target)
    prefix = tok(CFG.decode_prefix.format(label=task.label_words[1]))["input_ids"]
    projector = Projector(model, allowed, prefix, CFG.topk)
    x = torch.randn(CFG.gen_bs, FREE_TOKENS, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    x = x / x.norm(dim=-1, keepdim=True) * typical_norm(model, allowed)
    return matcher, projector, x


def test_inner_step(benchmark, parts):
    """One Adam step on x: matching loss + augmented term, backward to the inputs, clipped."""
    matcher, _, x0 = parts
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=CFG.lr)
    z = torch.zeros_like(x0)

    def step():
        opt.zero_grad()
        loss = matcher.loss(x) + (CFG.rho / 2) * (x - z).square().sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([x], CFG.grad_clip)
        opt.step()

    benchmark.pedantic(step, rounds=2, iterations=1, warmup_rounds=1)
    TIMES["inner"] = benchmark.stats.stats.mean
    print(f"\ninner step: {TIMES['inner']:.2f} s")


def test_init_candidate(benchmark, parts):
    """Scoring one random-normal initial batch (forward only)."""
    matcher, _, x = parts

    def score():
        with torch.no_grad():
            matcher.loss(x)

    benchmark.pedantic(score, rounds=2, iterations=1, warmup_rounds=1)
    TIMES["init"] = benchmark.stats.stats.mean
    print(f"\ninit candidate: {TIMES['init']:.2f} s")


def test_projection(benchmark, parts):
    """One z-step: the top-k nearest whitelisted tokens per position, then LM-greedy over them with a KV cache."""
    _, projector, x = parts
    benchmark.pedantic(lambda: projector(x), rounds=1, iterations=1, warmup_rounds=1)
    TIMES["projection"] = benchmark.stats.stats.mean
    if {"inner", "init"} <= set(TIMES):
        assert projected_minutes() > 0


def projected_minutes() -> float:
    """A cpu-preset fit on rt-polarity from the measured pieces: per call init_candidates forwards, outer x (one
    projection + inner steps), the final projection; calls = classes x pool_per_class / gen_bs."""
    calls = 2 * math.ceil(CFG.pool_per_class / CFG.gen_bs)
    per_call = (CFG.init_candidates * TIMES["init"] + CFG.outer_steps * (TIMES["projection"] + CFG.inner_steps * TIMES["inner"])
                + TIMES["projection"])
    print(f"\ncpu preset: {calls} calls x {per_call:.0f} s = {calls * per_call / 60:.1f} min "
          f"(inner {TIMES['inner']:.2f} s, init {TIMES['init']:.2f} s, projection {TIMES['projection']:.2f} s)")
    return calls * per_call / 60
