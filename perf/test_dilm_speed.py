"""What DiLM's and TDD's inner pieces cost on this machine (cpu preset sizes: SmolLM2-135M generator,
MiniLM learner, rt-polarity sentences): a stage-1 LM step, sampling a chunk of candidates, one
generator step of stage 2, the closed-form head gradient against autograd over the whole learner, and
one TDD outer step.

Run: ``.venv/bin/python -m pytest perf/test_dilm_speed.py --benchmark-only``
"""
import pytest
import torch

from benchmark.core.assets import resolve_model
from benchmark.tasks import TASKS
from dilm.config import PRESETS
from dilm.generator import Generator
from dilm.gradient_matching import head_gradient
from dilm.learner import MatchingLearner

CFG = PRESETS["cpu"]


@pytest.fixture(scope="module")
def task():
    return TASKS.create("rt-polarity")


@pytest.fixture(scope="module")
def generator(task):
    return Generator.from_pretrained(resolve_model(CFG.generator), 2, pair=False)


@pytest.fixture(scope="module")
def learner():
    learner = MatchingLearner.from_pretrained(resolve_model(CFG.learner), 2)
    learner.reset(0, 1e-4)
    return learner


@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_stage1_lm_step(benchmark, task, generator, layout):
    """One LM fine-tuning step, batch lm_batch_size (16) of real sentences, forward + backward: padded to the
    longest, or laid end to end in rows (``lm_packing``)."""
    seqs = generator.encode(list(task.splits.train.texts[:CFG.lm_batch_size]), [0] * CFG.lm_batch_size, CFG.max_length)

    def step():
        if layout == "packed":
            ids, positions, labels = generator.pack(seqs, CFG.max_length)
            inputs = {"input_ids": ids, "position_ids": positions}
        else:
            ids, mask, labels = generator.pad(seqs)
            inputs = {"input_ids": ids, "attention_mask": mask}
        generator.model(**inputs, labels=labels, use_cache=False).loss.backward()
        generator.model.zero_grad(set_to_none=True)
        benchmark.extra_info["tokens"] = ids.numel()

    benchmark.pedantic(step, rounds=3, iterations=1)


def test_sampling_a_chunk_of_64_candidates(benchmark, generator):
    out = benchmark.pedantic(lambda: generator.sample_ids(0, 64, CFG.max_length, CFG.top_p, seed=0), rounds=1,
                             iterations=1)
    assert len(out) == 64


def test_stage2_generator_step(benchmark, task, generator, learner):
    """Per class: syn_batch_size (8) generated-length samples' NLL with grad, the learner's head inputs for them
    and for a real batch of 32, the closed-form matching loss, backward into the generator."""
    texts = list(task.splits.train.texts[:CFG.syn_batch_size])
    seqs = generator.encode(texts, [1] * len(texts), CFG.max_length)
    real = list(task.splits.train.texts[100:100 + CFG.real_batch_size])

    def step():
        for _ in range(2):  # two classes
            weights = torch.softmax(-generator.sequence_nll(seqs), 0)
            h, z, _ = learner.head_inputs(real)
            g_real = head_gradient(h, z, 1, torch.full((len(h),), 1 / len(h)))
            h, z, _ = learner.head_inputs(texts)
            (1 - torch.nn.functional.cosine_similarity(g_real, head_gradient(h, z, 1, weights), dim=0)).backward()
        generator.model.zero_grad(set_to_none=True)

    benchmark.pedantic(step, rounds=3, iterations=1)


@pytest.mark.parametrize("how", ["closed-form head", "autograd all parameters"])
def test_matched_gradient_closed_form_vs_autograd(benchmark, task, learner, how):
    """The synthetic gradient for 64 samples: DiLM's closed form (head only) vs autograd over the learner."""
    texts = list(task.splits.train.texts[:64])
    weights = torch.full((64,), 1 / 64)
    if how == "closed-form head":
        def run():
            h, z, _ = learner.head_inputs(texts)
            return head_gradient(h, z, 1, weights)
    else:
        def run():
            return learner.full_gradient(texts, 1, weights, create_graph=False)
    assert benchmark.pedantic(run, rounds=3, iterations=1).ndim == 1


@pytest.mark.parametrize("outer_steps", [1, 11])
def test_tdd_distill(benchmark, task, outer_steps):
    """TDD at DPC 5 (cpu preset) with 1 and 11 outer steps (model loading, one validation pass of 1 example
    included): the difference / 10 is the cost of one unrolled second-order outer step."""
    from methods.tdd import TDD, distill_embeddings

    cfg = {**TDD().config(), "outer_steps": outer_steps, "eval_every": 10**6, "validation_size": 1}
    benchmark.pedantic(lambda: distill_embeddings(task, cfg, 5, seed=0), rounds=1, iterations=1)
