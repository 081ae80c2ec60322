"""What issue 49's speed levers save, measured on this CPU: padded tokens of a stage-1 step on the MNLI stand-in with
and without packing (``lm_packing``, on in the ``paper`` preset); candidate sampling throughput at chunks of 64 and of
512 (``candidate_chunk``) and the rows the decoder computes once finished rows leave the batch; stage 2's pool [CLS]
states in length-sorted batches; model loads per stack, one load per seed against one load copied.

Run: ``.venv/bin/python -m pytest perf/test_speed_levers.py --benchmark-only -s`` (the counts are printed and kept in
each benchmark's ``extra_info``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dilm.candidates import candidate_texts
from dilm.config import PRESETS
from dilm.generator import Generator
from dilm.lm_training import _batches

PAPER = PRESETS["paper"]


@pytest.fixture(scope="module")
def mnli():
    from benchmark.tasks.glue_standins import RehearsalTask

    return RehearsalTask(stands_for="mnli")


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """A 2-layer random GPT-2 with GPT-2's real tokenizer (the paper's generator, at a CPU's size)."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from benchmark.core.assets import gpt2_tokenizer_path

    tokenizer = AutoTokenizer.from_pretrained(gpt2_tokenizer_path())
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=2, n_positions=512,
                                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    path = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_stage1_tokens_per_step_on_the_mnli_standin(benchmark, mnli, gpt2, layout):
    """The paper's stage-1 batches (64 of MNLI's pairs, up to 421 tokens) over 50 steps: tokens in the step's tensor,
    padded to the batch's longest or packed in rows of ``max_length`` (``Generator.pack``)."""
    max_length = 421
    generator = Generator.from_pretrained(str(gpt2), 3, pair=True, class_token_init="bos")
    train = mnli.splits.train
    order = _batches(len(train), PAPER.lm_batch_size, 50, seed=0)
    sequences = generator.encode([train.texts[i] for i in np.concatenate(order)],
                                 [int(train.labels[i]) for i in np.concatenate(order)], max_length)
    steps = [sequences[k * PAPER.lm_batch_size:(k + 1) * PAPER.lm_batch_size] for k in range(50)]
    build = (lambda batch: generator.pack(batch, max_length)) if layout == "packed" else generator.pad
    tensor = sum(build(batch)[0].numel() for batch in steps) / len(steps)
    real = sum(map(len, sequences)) / len(steps)
    benchmark.extra_info.update(tokens_per_step=round(tensor), real_tokens_per_step=round(real),
                                padding_share=round(1 - real / tensor, 3))
    print(f"\nstage 1 ({layout}): {tensor:.0f} tokens a step for {real:.0f} real ({1 - real / tensor:.1%} padding)")
    generator.model.train()

    def step():
        ids, second, labels = build(steps[0])
        inputs = {"input_ids": ids, "position_ids" if layout == "packed" else "attention_mask": second}
        generator.model(**inputs, labels=labels, use_cache=False).loss.backward()
        generator.model.zero_grad(set_to_none=True)

    benchmark.pedantic(step, rounds=3, iterations=1)


@pytest.fixture(scope="module")
def ending_generator(gpt2):
    """The tiny GPT-2 with a large EOS row: samples end at scattered lengths, as a trained generator's do."""
    generator = Generator.from_pretrained(str(gpt2), 2, pair=False, class_token_init="bos")
    with torch.no_grad():
        torch.manual_seed(0)
        generator.model.get_output_embeddings().weight[generator.eos_id] = 0.6 * torch.randn(64)
    return generator


@pytest.mark.parametrize("chunk", [64, 512])
def test_candidate_sampling_throughput_by_chunk(benchmark, ending_generator, chunk):
    """512 candidates of one class at the cpu preset's 64 tokens, sampled in chunks of ``chunk`` (one generate call a
    chunk): tokens per second, and the rows the decoder computed against a decoder that runs every row to the end."""
    stats: dict = {}
    original = ending_generator.sample_ids

    def counted(*args, **kwargs):
        return original(*args, **{**kwargs, "stats": stats})

    ending_generator.sample_ids = counted
    try:
        texts = benchmark.pedantic(lambda: candidate_texts(ending_generator, 0, 512, 64, 0.95, seed=0, max_retries=20,
                                                           chunk=chunk), rounds=1, iterations=1)
    finally:
        del ending_generator.sample_ids
    assert len(texts) == 512
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(tokens_per_s=round(stats["tokens"] / seconds), decode_steps=stats["steps"],
                                rows_computed=stats["rows"], rows_if_unfinished_rows_stayed=stats["padded_rows"])
    print(f"\nchunk {chunk}: {stats['tokens'] / seconds:.0f} tokens/s; {stats['steps']} decode steps, "
          f"{stats['rows']} rows computed against {stats['padded_rows']} with finished rows kept")


@pytest.mark.parametrize("layout", ["pool order", "length-sorted"])
def test_pool_states_padding_on_the_mnli_standin(benchmark, mnli, layout):
    """Stage 2's pool [CLS] states (batches of 128, inputs cut at 512 as in the paper preset), MiniLM's tokenizer:
    tokens of the padded batches in the pool's order and sorted by length (``MatchingLearner.cls_states``)."""
    from benchmark.core.assets import minilm_path
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    texts = list(mnli.splits.train.texts[:2048])
    lengths = np.array([len(ids) for ids in tokenizer(*zip(*texts), truncation=True, max_length=512)["input_ids"]])

    def padded_tokens():
        order = np.argsort(lengths, kind="stable") if layout == "length-sorted" else np.arange(len(lengths))
        return sum(lengths[order[i:i + 128]].max() * len(order[i:i + 128]) for i in range(0, len(order), 128))

    tokens = benchmark(padded_tokens)
    benchmark.extra_info.update(padded_tokens=int(tokens), real_tokens=int(lengths.sum()))
    print(f"\npool states ({layout}): {tokens} padded tokens for {lengths.sum()} real")


@pytest.mark.parametrize("loading", ["a load per seed", "one load copied"])
def test_model_loads_per_stack(benchmark, monkeypatch, loading):
    """A stack of 8 MiniLM classifiers: ``from_pretrained`` calls and seconds, one load per seed (before) against one
    load deep-copied per seed with its head drawn again (``pretrained_classifiers``)."""
    import transformers

    from benchmark.core.assets import minilm_path
    from benchmark.core.classifiers import pretrained_classifier, pretrained_classifiers

    path, seeds, loads = str(minilm_path()), list(range(8)), []
    load = transformers.AutoModelForSequenceClassification.from_pretrained
    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained",
                        lambda *a, **k: loads.append(a) or load(*a, **k))
    if loading == "a load per seed":
        benchmark.pedantic(lambda: [pretrained_classifier(path, 2, s, 0) for s in seeds], rounds=2, iterations=1)
    else:
        benchmark.pedantic(lambda: pretrained_classifiers(path, 2, seeds, 0), rounds=2, iterations=1)
    benchmark.extra_info["loads_per_stack"] = len(loads) // 2
    print(f"\n{loading}: {len(loads) // 2} loads per stack of {len(seeds)}")
