"""DiLM's hyper-parameters in one place, with the two presets: ``paper`` (GPU) and ``cpu`` (this 2-core CPU).

Every ablation switch of the paper is a field: ``representative_teacher``, ``diverse_sampling``,
``test_time_selection``, ``classifier_only`` (match only the classifier head's gradient, closed form),
``temperature`` and ``inner_loops``. A preset may set values per task (``TASK_SETTINGS``): the paper
generates up to 68 / 313 / 421 tokens for SST-2 / QQP / MNLI and feeds QQP and MNLI real batches of
100 per class twice (accumulated) instead of 200 once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import ClassVar

from dilm.precision import PRECISIONS

STAGE2 = {"stage": 2}  # field metadata: used by stage 2 only (vanilla LM does not take it)
RUNTIME = {"runtime": True}  # where and how often, not what: never part of a cell id or cache key


@dataclass(frozen=True)
class DiLMConfig:
    """All of DiLM's knobs. Per-class sizes are per class; lengths are tokens."""

    # each numeric knob's range, beside the fields' types (a grid is checked against it before anything runs)
    RANGES: ClassVar[dict] = {
        **{name: "x >= 0" for name in ("lm_steps", "outer_loops", "inner_loops", "learner_steps", "max_retries")},
        **{name: "x >= 1" for name in ("lm_batch_size", "max_length", "learner_max_length", "learner_batch_size",
                                       "syn_batch_size", "real_batch_size", "real_grad_accum", "n_coresets",
                                       "coreset_size", "pool_size", "pool_interval", "oversample_ratio",
                                       "sample_batch_size", "selection_max_length")},
        **{name: "x > 0" for name in ("lm_lr", "generator_lr", "learner_lr", "temperature", "checkpoint_minutes")},
        **{name: "0 <= x <= 1" for name in ("lm_warmup_ratio", "generator_warmup_ratio", "learner_warmup_ratio")},
        "top_p": "0 < x <= 1"}

    # the generator and stage 1 (LM fine-tuning on the train split)
    generator: str = "smollm2"
    class_prompt: str = "token"  # token: a new class token per class (the paper); words: a text prompt per class
    prompt_template: str = "{label}: "  # the words prompt of a class, from its label word
    class_token_init: str = "label_name"
    lm_steps: int = 150
    lm_batch_size: int = 16
    lm_lr: float = 5e-5
    lm_warmup_ratio: float = 0.1
    max_length: int = 64  # generator tokens of a sample (class token and EOS included); longer texts are cut
    # stage 1 lays a step's sentences end to end in rows of max_length (attention kept within each sentence)
    # instead of padding each to the batch's longest: the same loss on fewer tokens, so a faster step
    lm_packing: bool = False
    # stage 2 (gradient matching through generation likelihoods)
    learner: str = field(default="minilm", metadata=STAGE2)
    learner_max_length: int = field(default=64, metadata=STAGE2)
    outer_loops: int = field(default=10, metadata=STAGE2)
    inner_loops: int = field(default=10, metadata=STAGE2)
    generator_lr: float = field(default=1e-5, metadata=STAGE2)
    generator_schedule: str = field(default="constant", metadata=STAGE2)
    generator_warmup_ratio: float = field(default=0.0, metadata=STAGE2)
    generator_dropout: bool = field(default=False, metadata=STAGE2)
    learner_steps: int = field(default=5, metadata=STAGE2)
    learner_lr: float = field(default=1e-4, metadata=STAGE2)
    learner_schedule: str = field(default="constant", metadata=STAGE2)
    learner_warmup_ratio: float = field(default=0.0, metadata=STAGE2)
    learner_batch_size: int = field(default=32, metadata=STAGE2)
    syn_batch_size: int = field(default=8, metadata=STAGE2)
    real_batch_size: int = field(default=32, metadata=STAGE2)
    real_grad_accum: int = field(default=1, metadata=STAGE2)
    temperature: float = field(default=1.0, metadata=STAGE2)
    # stage 2's likelihoods of a synthetic batch on its samples laid end to end (``Generator.sequence_nll``): the same
    # NLLs on fewer tokens (without generator dropout: with it, other dropout masks of the same distribution)
    nll_packing: bool = field(default=False, metadata=STAGE2)
    classifier_only: bool = field(default=True, metadata=STAGE2)
    representative_teacher: bool = field(default=True, metadata=STAGE2)
    n_coresets: int = field(default=4, metadata=STAGE2)
    coreset_size: int = field(default=32, metadata=STAGE2)
    diverse_sampling: bool = field(default=True, metadata=STAGE2)
    pool_size: int = field(default=64, metadata=STAGE2)
    pool_interval: int = field(default=25, metadata=STAGE2)
    # the stage-2 learner's forward passes (head inputs, [CLS] states for the pools and the teacher, real-data
    # steps): fp32, bf16 (autocast) or auto (bf16 where the device multiplies it natively); ``dilm/precision.py``
    learner_precision: str = field(default="fp32", metadata=STAGE2)
    # producing the distilled set
    oversample_ratio: int = 10
    label_filter: bool = False  # drop candidates a train-split classifier puts in another class (GRADMM's step)
    test_time_selection: bool = True
    top_p: float = 0.95
    sample_batch_size: int = field(default=64, metadata=STAGE2)  # sequences per generate call for stage 2's pools
    # candidates per cached, seeded chunk and per generate call when producing a set (the authors sample 512 at a time);
    # another size draws other chunks, so it names other cached chunks
    candidate_chunk: int = 64
    selection_encoder: str = "minilm"
    selection_pooling: str = "cls"
    selection_max_length: int = 64
    selection_precision: str = "fp32"  # the selection encoder's (and the label filter's) embeddings: fp32, bf16, auto
    max_retries: int = 20
    # placement and resilience
    device: str = field(default="auto", metadata=RUNTIME)
    amp: str = "auto"
    checkpoint_minutes: float = field(default=10.0, metadata=RUNTIME)

    def to_dict(self) -> dict:
        return asdict(self)


# Fields added after records were made: they enter cell ids and cache keys only when set away from their default,
# so the ids and keys of everything made before they existed stay valid.
LATER_FIELDS = ("lm_packing", "learner_precision", "selection_precision", "candidate_chunk", "nll_packing")


def identity(values: dict) -> dict:
    """``values`` (field name -> value) without the later fields that sit at their default: what ids and keys hash."""
    defaults = {f.name: f.default for f in fields(DiLMConfig) if f.name in LATER_FIELDS}
    return {name: value for name, value in values.items() if name not in defaults or value != defaults[name]}


def field_names(stage2: bool = True, runtime: bool = True) -> tuple[str, ...]:
    """DiLMConfig's fields; without the stage-2 ones (vanilla LM) or the runtime ones (ids and cache keys)."""
    return tuple(f.name for f in fields(DiLMConfig)
                 if (stage2 or not f.metadata.get("stage") == 2) and (runtime or not f.metadata.get("runtime")))


SCHEDULES = ("constant", "cosine")
CLASS_PROMPTS = ("token", "words")

PRESETS: dict[str, DiLMConfig] = {
    # The authors' code (GPT-2 small generator, BERT-base learner, GLUE-size pools); for GPUs. Inputs of the learner,
    # the teacher and the selection embedder are cut at 512 tokens, as in their code.
    "paper": DiLMConfig(
        generator="gpt2", class_token_init="bos", lm_steps=80_000, lm_batch_size=64, lm_lr=1e-5, lm_warmup_ratio=0.1,
        max_length=68, lm_packing=True, learner="bert-base-uncased", learner_max_length=512, outer_loops=2_000,
        inner_loops=10, generator_lr=3e-7, generator_schedule="cosine", generator_warmup_ratio=0.05,
        generator_dropout=True, learner_steps=20, learner_lr=1e-4, learner_schedule="cosine", learner_warmup_ratio=0.5,
        learner_batch_size=64, syn_batch_size=64, real_batch_size=200, temperature=1.0, nll_packing=True,
        n_coresets=10, coreset_size=200, pool_size=12_800, pool_interval=200, oversample_ratio=100,
        sample_batch_size=512, candidate_chunk=512, selection_encoder="bert-base-uncased", selection_max_length=512,
        # bf16 as the authors ran it: their stage 2 autocasts the learner's gradients, the generator's likelihoods and
        # the learner's steps (src/distillation/trainer_dc.py:163 and :249, on with configs/train/dc.yaml:89-90
        # `train.bf16: True`), and their coreset embedder, which embeds the teacher's real data and the candidates
        # picked at test time, always autocasts (src/coreset/coreset_utils.py:41); their pools are clustered in fp32
        # (src/distillation/trainer_base.py:256), ours with the learner's precision. `fp32` restores full precision.
        learner_precision="bf16", selection_precision="bf16"),
    # SmolLM2-135M + MiniLM with budgets that fit a 2-core CPU in about 25 minutes (rt-polarity). With 150 LM
    # steps instead of 80k, class tokens copied from BOS stay almost identical (samples ~52% on-label by a
    # TF-IDF classifier), so the class tokens start from the label names' embeddings instead.
    "cpu": DiLMConfig(),
}

# Per-task values of a preset (by task name), applied over the preset and under a grid's explicit parameters.
TASK_SETTINGS: dict[str, dict[str, dict]] = {
    "paper": {
        "sst2": {"max_length": 68},
        "qqp": {"max_length": 313, "real_batch_size": 100, "real_grad_accum": 2},
        "mnli": {"max_length": 421, "real_batch_size": 100, "real_grad_accum": 2},
    },
}


def over_preset(presets: dict, preset: str, overrides: dict, what: str, per_task: dict | None = None):
    """``presets[preset]`` (a config dataclass), its ``per_task`` values, then every non-None override over it; an
    unknown preset or field is a ValueError naming ``what`` and the closest preset (DiLM's and GRADMM's configs)."""
    if preset not in presets:
        import difflib

        close = difflib.get_close_matches(preset, list(presets), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {what} preset {preset!r}.{hint} Presets: {', '.join(presets)}")
    known = {f.name for f in fields(presets[preset])}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown {what} hyper-parameter(s) {unknown}; known: {', '.join(sorted(known))}")
    return replace(presets[preset], **{**(per_task or {}), **{k: v for k, v in overrides.items() if v is not None}})


def resolve(preset: str, overrides: dict, task: str | None = None) -> DiLMConfig:
    """The preset's config, its values for ``task``, then every non-None override; unknown names or values
    raise a clear error."""
    per_task = TASK_SETTINGS.get(preset, {}).get(task, {})
    cfg = over_preset(PRESETS, preset, overrides, "DiLM", per_task)
    for name in ("generator_schedule", "learner_schedule"):
        if getattr(cfg, name) not in SCHEDULES:
            raise ValueError(f"{name} must be one of {', '.join(SCHEDULES)}, got {getattr(cfg, name)!r}")
    for name in ("learner_precision", "selection_precision"):
        if getattr(cfg, name) not in PRECISIONS:
            raise ValueError(f"{name} must be one of {', '.join(PRECISIONS)}, got {getattr(cfg, name)!r}")
    if cfg.class_prompt not in CLASS_PROMPTS:
        raise ValueError(f"class_prompt must be one of {', '.join(CLASS_PROMPTS)}, got {cfg.class_prompt!r}")
    if "{label}" not in cfg.prompt_template:
        raise ValueError(f"prompt_template must contain {{label}}, got {cfg.prompt_template!r}")
    return cfg
