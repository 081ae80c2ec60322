"""Each cell kind's work on real models, in the terms of ``costs``: which passes, how many steps, how many tokens.

Token counts come from the stand-in data through the real tokenizers (cut at the configured lengths); step
counts, batch sizes and lengths from the grid's resolved configs (presets, per-task values, recipes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from benchmark.study.rehearsal import costs
from benchmark.study.rehearsal.costs import Cost, cpu, forward, generate, train
from benchmark.study.rehearsal.standins import ARCHITECTURES, tiny_model_path

SAMPLE_ROWS = 4000


@dataclass
class Lengths:
    """Token counts of sampled rows: their mean, and the expected longest of a random batch (its padded width)."""

    values: np.ndarray

    def mean(self) -> float:
        return float(self.values.mean())

    def padded(self, batch: int) -> float:
        rng = np.random.default_rng(0)
        batch = max(1, min(int(batch), len(self.values)))
        return float(np.mean([self.values[rng.integers(0, len(self.values), batch)].max() for _ in range(100)]))

    def packed(self, batch: int, width: int) -> tuple[float, float]:
        """A packed step's tensor (``lm_packing``): a random batch laid end to end (``packed_layout``, rows of at
        most ``width``); its mean number of rows and the mean tokens of its fullest row, the width every row has."""
        from dilm.generator import packed_layout

        rng = np.random.default_rng(0)
        batch = max(1, min(int(batch), len(self.values)))
        shapes = []
        for _ in range(100):
            draw = self.values[rng.integers(0, len(self.values), batch)].tolist()
            rows = packed_layout(draw, width)
            shapes.append((len(rows), max(sum(draw[i] for i in row) for row in rows)))
        rows, fill = np.mean(shapes, axis=0)
        return float(rows), float(fill)


@dataclass
class TaskScale:
    """One task at its real size, what the projections read of it, and this machine's k-means speed."""

    task: object
    gpu: costs.GPU
    kmeans_s_per_flop: float  # seconds per (rows x k x width) of one Lloyd iteration, measured here
    kmeans_init_s_per_flop: float  # seconds per (rows x k x width) of the k-means++ initialisation, measured here
    herding_s_per_flop: float  # seconds per (rows x width) of one greedy step, measured here
    _lengths: dict = field(default_factory=dict)

    @cached_property
    def sample(self):
        train = self.task.splits.train
        idx = np.random.default_rng(0).choice(len(train), size=min(SAMPLE_ROWS, len(train)), replace=False)
        return [train.texts[i] for i in idx]

    @property
    def n_train(self) -> int:
        return len(self.task.splits.train)

    @property
    def largest_class(self) -> int:
        return int(self.task.splits.train.class_counts(self.task.num_classes).max())

    def lengths(self, model: str, max_length: int, generator: bool = False) -> Lengths:
        """Token counts under ``model``'s tokenizer: as a classifier input (special tokens, pairs as pairs) or as a
        generator sample (class token + s1 [+ <sep> + s2] + EOS)."""
        key = (model, max_length, generator)
        if key not in self._lengths:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tiny_model_path(model) if model in ARCHITECTURES else model)
            if generator:
                parts = [tokenizer([t[i] for t in self.sample], add_special_tokens=False)["input_ids"]
                         for i in range(len(self.sample[0]))]
                counts = np.sum([[len(x) for x in p] for p in parts], axis=0) + len(parts) + 1
            else:
                encoded = tokenizer(*zip(*self.sample), truncation=True, max_length=max_length)["input_ids"]
                counts = np.array([len(x) for x in encoded])
            self._lengths[key] = Lengths(np.minimum(counts, max_length))
        return self._lengths[key]

    def kmeans(self, rows: float, k: float, width: int, runs: int = 1) -> Cost:
        """``runs`` k-means of ``rows`` x ``width`` into ``k`` clusters (k-means++ and KMEANS_ITERATIONS iterations)."""
        unit = rows * k * width
        seconds = runs * unit * (costs.KMEANS_ITERATIONS * self.kmeans_s_per_flop + self.kmeans_init_s_per_flop)
        return cpu(seconds, rows * width * 4, "embeddings clustered by k-means (host)")


def arch(model: str):
    if model not in ARCHITECTURES:
        raise KeyError(model)
    return ARCHITECTURES[model]


def config_field(config, name: str, default=None):
    """A field of a resolved config: a dict's key or a dataclass's attribute (``default`` when it has none)."""
    return config.get(name, default) if isinstance(config, dict) else getattr(config, name, default)


def bf16(config, default: bool = False, field: str = "precision") -> bool:
    """Whether a stage's matmuls run in bf16 on the target GPU: its config's precision ``field`` where it has one
    ("bf16", or "auto": every GPU of ``costs.GPUS`` multiplies bfloat16 natively), else ``default`` (the code's fixed
    rule). DiLM names two: ``learner_precision`` (stage 2's learner and teacher), ``selection_precision``."""
    precision = config_field(config, field)
    return default if precision is None else precision in ("bf16", "auto")


def embed_train(scale: TaskScale, model: str, max_length: int, half: bool = False) -> Cost:
    lengths = scale.lengths(model, max_length)
    return forward(scale.gpu, arch(model), scale.n_train, lengths.mean(), 128, bf16=half, kept=True)


def embed_train_split(scale: TaskScale, cfg, dpc=None) -> Cost:
    """A coreset's fit: its encoder over the train split."""
    return embed_train(scale, cfg["encoder"], cfg["max_length"], bf16(cfg))


def stage1(scale: TaskScale, cfg, dpc=None) -> Cost:
    gen = arch(cfg.generator)
    lengths = scale.lengths(cfg.generator, cfg.max_length, generator=True)
    batch, seq = (lengths.packed(cfg.lm_batch_size, cfg.max_length) if cfg.lm_packing
                  else (cfg.lm_batch_size, lengths.padded(cfg.lm_batch_size)))
    return train(scale.gpu, gen, cfg.lm_steps, batch, seq, bf16=True, lm=True)


def teacher(scale: TaskScale, cfg, dpc=None) -> Cost:
    cost = Cost().add("embed", embed_train(scale, cfg.learner, cfg.learner_max_length,
                                             bf16(cfg, field="learner_precision")))
    runs = scale.task.num_classes * cfg.n_coresets
    return cost.add("k-means", scale.kmeans(scale.largest_class, cfg.coreset_size, arch(cfg.learner).hidden, runs))


def stage2(scale: TaskScale, cfg, dpc=None) -> Cost:
    """Generator steps (per class: the samples' likelihoods, forward and backward; the learner's head inputs on the
    real and synthetic batches), the learner's real-data steps, and the pools (sampling, embedding, k-means)."""
    gen, learner, gpu, classes = arch(cfg.generator), arch(cfg.learner), scale.gpu, scale.task.num_classes
    half = bf16(cfg, field="learner_precision")
    steps = cfg.outer_loops * cfg.inner_loops
    gen_len = scale.lengths(cfg.generator, cfg.max_length, generator=True)
    learner_len = scale.lengths(cfg.learner, cfg.learner_max_length)
    real = cfg.real_batch_size * cfg.real_grad_accum
    cost = Cost()
    cost.add("likelihoods", train(gpu, gen, steps * classes, cfg.syn_batch_size, gen_len.padded(cfg.syn_batch_size),
                                  bf16=True, lm=True))
    head = forward(gpu, learner, steps * classes * (real + cfg.syn_batch_size), learner_len.padded(cfg.real_batch_size),
                   cfg.real_batch_size, bf16=half)
    cost.add("head inputs", head)
    learner_steps = cfg.outer_loops * (cfg.inner_loops - 1) * cfg.learner_steps
    cost.add("learner steps", train(gpu, learner, learner_steps, cfg.learner_batch_size,
                                    learner_len.padded(cfg.learner_batch_size), bf16=half))
    pools = -(-steps // cfg.pool_interval) * classes
    cost.add("pool sampling", generate(gpu, gen, pools * cfg.pool_size, gen_len.mean(), cfg.max_length,
                                       cfg.sample_batch_size, bf16=False))
    cost.add("pool embedding", forward(gpu, learner, pools * cfg.pool_size, learner_len.mean(), 128, bf16=half))
    if cfg.diverse_sampling:
        cost.add("pool k-means", scale.kmeans(cfg.pool_size, cfg.syn_batch_size, learner.hidden, pools))
    resident = 16 * gen.params + 16 * learner.params + 4 * learner.params  # both trained, the learner's snapshot
    dynamic = max(
        costs.activation_bytes(gen, cfg.syn_batch_size, gen_len.padded(cfg.syn_batch_size), True)
        + cfg.syn_batch_size * gen_len.padded(cfg.syn_batch_size) * gen.vocab * 10,
        costs.activation_bytes(learner, cfg.learner_batch_size, learner_len.padded(cfg.learner_batch_size), half),
        2 * gen.layers * cfg.sample_batch_size * cfg.max_length * gen.hidden * 4 + cfg.sample_batch_size * gen.vocab * 12)
    cost.gpu_bytes = resident + dynamic
    return cost


def candidates(scale: TaskScale, cfg, dpc: int) -> Cost:
    gen = arch(cfg.generator)
    n = dpc * (cfg.oversample_ratio if cfg.test_time_selection else 1) * scale.task.num_classes
    gen_len = scale.lengths(cfg.generator, cfg.max_length, generator=True)
    cost = Cost().add("sampling", generate(scale.gpu, gen, n, gen_len.mean(), cfg.max_length, cfg.candidate_chunk,
                                                  bf16=False))
    if cfg.test_time_selection:
        sel_len = scale.lengths(cfg.selection_encoder, cfg.selection_max_length)
        cost.add("embedding", forward(scale.gpu, arch(cfg.selection_encoder), n, sel_len.mean(), 128,
                                      bf16=bf16(cfg, field="selection_precision"),
                                      kept=True))
        per_class = n // scale.task.num_classes
        cost.add("k-means", scale.kmeans(per_class, dpc, arch(cfg.selection_encoder).hidden, scale.task.num_classes))
    return cost


def tdd(scale: TaskScale, cfg: dict, dpc: int) -> Cost:
    """Per outer step: the unrolled inner steps on the synthetic set (second order: ~2 training steps each) and the
    real batch through the unrolled model; every ``eval_every`` steps a validation run."""
    model, half = arch(cfg["model"]), bf16(cfg)
    n_set = dpc * scale.task.num_classes
    real_len = scale.lengths(cfg["model"], 64).padded(cfg["real_batch_size"])
    cost = Cost()
    cost.add("unrolled steps", train(scale.gpu, model, 2 * cfg["outer_steps"] * cfg["inner_steps"], n_set,
                                     cfg["seq_length"], bf16=half))
    cost.add("real batches", train(scale.gpu, model, 2 * cfg["outer_steps"], cfg["real_batch_size"], real_len,
                                   bf16=half))
    evals = -(-cfg["outer_steps"] // cfg["eval_every"])
    cost.add("validation", forward(scale.gpu, model, evals * cfg["validation_size"], scale.lengths(cfg["model"], 64).mean(),
                                   128, bf16=half))
    return cost


def kmeans_selection(scale: TaskScale, cfg, dpc: int) -> Cost:
    """Per class, k-means (k = DPC) of the class's embeddings in the encoder's space (on the node's CPU)."""
    return scale.kmeans(scale.largest_class, dpc, arch(cfg["encoder"]).hidden, scale.task.num_classes)


def herding_selection(scale: TaskScale, cfg, dpc: int) -> Cost:
    """Per class, DPC greedy passes over the class's embeddings (herding, k-center greedy: the same work)."""
    width, rows = arch(cfg["encoder"]).hidden, scale.largest_class
    seconds = dpc * rows * width * scale.herding_s_per_flop * scale.task.num_classes
    return cpu(seconds, rows * width * 4, "class embeddings (host)")


PROJECTIONS = {f.__name__: f for f in (embed_train_split, stage1, teacher, stage2, candidates, tdd, kmeans_selection,
                                       herding_selection)}
PROJECTIONS["greedy_selection"] = herding_selection


def project(projection, scale: TaskScale, cfg, dpc) -> Cost:
    """A method's projection (``methods.base.CostModel``): a name in ``PROJECTIONS`` or a plugin's callable."""
    return (projection if callable(projection) else PROJECTIONS[projection])(scale, cfg, dpc)


@dataclass
class Stack:
    """How ``run`` trains a learner's runs on sets of one size: ``width`` runs at once (``learners.stacked``), each
    step's sequences packed in ``rows`` rows of ``row`` tokens per copy; width 1 and no packing when the
    architecture has no stacked path (``packed`` False)."""

    width: int
    packed: bool
    rows: float = 0.0
    row: float = 0.0
    gpu_bytes: float = 0.0


def stack_for(scale: TaskScale, recipe: dict, n_set: int, cap: int, alone: bool = False) -> Stack:
    """The stack ``run --stack-runs cap`` would form on the target GPU: ``learners.stacked.width_for``'s rule (as many
    copies as its memory model fits in three quarters of the GPU) on a set of ``n_set`` rows drawn from the task's
    measured lengths; a mean step's packed shape for the compute. ``alone``: a DPC-independent set, a stack of one."""
    from benchmark.learners import stacked

    model = arch(recipe["model"])
    if model.family not in stacked.ARCHITECTURES:
        return Stack(1, False)
    lengths = scale.lengths(recipe["model"], recipe["max_length"])
    rng = np.random.default_rng(0)
    batch = min(recipe["batch_size"], n_set)
    drawn = lengths.values[rng.integers(0, len(lengths.values), n_set)].tolist()
    shape = _config_of(model)
    trained = stacked.trained_parameters(model.params, model.vocab, model.hidden)
    width = stacked.widest(shape, stacked.step_slots(drawn, batch), trained, model.params,
                           0.75 * scale.gpu.memory_gib * costs.GIB, 1 if alone else cap)
    shapes = []
    for _ in range(50):
        step = [drawn[i] for i in rng.choice(n_set, batch, replace=False)]
        row = max(stacked.TRAIN_ROW, max(step))
        shapes.append((stacked.pack(step, row)[1], row))
    rows, row = np.mean(shapes, axis=0)
    peak = stacked.stack_peak_bytes(shape, width, stacked.step_slots(drawn, batch), trained, model.params)
    return Stack(width, True, float(rows), float(row), peak)


def _config_of(model):
    """What ``learners.stacked``'s memory model reads of a Hugging Face config, from the real architecture."""
    from types import SimpleNamespace

    return SimpleNamespace(num_hidden_layers=model.layers, hidden_size=model.hidden, num_attention_heads=model.heads)


def evaluate(scale: TaskScale, recipe: dict, n_set: int, stack: Stack | None = None,
             embedding_steps: int | None = None) -> Cost:
    """One run: a fine-tune (``steps`` at batch min(batch, |set|)) or an embedding set's own recipe, then the test
    split; on the stacked path (``stack``) its share of a stack: each copy computes the packed rows of its batch,
    the stack's steps and test batches pay their kernel launches once for all its copies."""
    model, half = arch(recipe["model"]), bf16(recipe)
    lengths = scale.lengths(recipe["model"], recipe["max_length"])
    batch = min(recipe["batch_size"], n_set)
    steps = recipe["steps"] if embedding_steps is None else embedding_steps
    test, test_len = len(scale.task.splits.test), lengths.mean()
    if stack is None or not stack.packed:
        cost = Cost().add("fine-tune", train(scale.gpu, model, steps, batch, lengths.padded(batch), bf16=half))
        return cost.add("test split", forward(scale.gpu, model, test, test_len, recipe["eval_batch_size"], bf16=half))
    width = stack.width
    fine_tune = train(scale.gpu, model, steps, width * stack.rows, stack.row, bf16=half)
    scoring = forward(scale.gpu, model, width * test, test_len, width * recipe["eval_batch_size"], bf16=half)
    cost = Cost().add("fine-tune", Cost(fine_tune.gpu_s / width, largest=fine_tune.largest))
    cost.add("test split", Cost(scoring.gpu_s / width, largest=scoring.largest))
    cost.gpu_bytes = stack.gpu_bytes
    return cost
