"""GRADMM's hyper-parameters in one place, with the presets ``paper`` (the released code on a GPU) and ``cpu``.

Each field's released value (``BigML-CS-UCLA/GRADMM`` at 221a1ad) is given beside it; the ``cpu`` preset scales
the budget to a 2-core CPU (SmolLM2-135M-Instruct, fewer iterations and init candidates, a pool covering DPC 20).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from dilm.config import over_preset

RUNTIME = {"runtime": True}  # where and how often, not what: never part of a cell id or cache key
DISTILL = {"distill": True}  # used only when a set is made from the pool (the pool's cache key leaves it out)

# rt-polarity / SST-2 instruction of the released LM-greedy decoding (utilities.py get_prefix), {label} = the word
RELEASED_DECODE_PREFIX = (
    "You are now a movie critic. You are provided with a sentiment label (either 'great' or 'bad'). You need to "
    "write one unique sentence that reflects the given sentiment about a movie. Your writing style should be "
    "consistent with typical movie reviews. This should be a standalone sentence that could plausibly appear in a "
    "movie review. Ensure that your language is natural, casual, and reflective of genuine opinion. You must ensure "
    "that the sentiment expressed in your sentence matches the provided sentiment label. Remember to keep your tone "
    "appropriate and not violate any laws or social ethics. Please be creative and write only one sentence. The "
    "sentiment of the movie review is: {label}\n. Answer:")


@dataclass(frozen=True)
class GradmmConfig:
    """All of GRADMM's knobs. Per-class counts are per class; lengths are tokens."""

    model: str = "smollm2"  # the frozen causal LM whose head gradient is matched (released: microsoft/phi-1_5)
    prompt_suffix: str = " It was"  # after each text; the class is the next word (released: " It was ")
    label_words: tuple = ()  # one verbaliser word per class; () = the task's label words (released: bad, great)
    real_per_class: int = 25  # real train examples per class in the class-mean target; 0 = all of them
    gen_bs: int = 10  # sequences optimised jointly (their batch-mean gradient is matched)
    gen_tokens: int = 0  # free positions per sequence; 0 = the class's mean real length minus the suffix
    pool_per_class: int = 100  # candidates generated per class (n_gen x gen_bs)
    init_candidates: int = 500  # random-normal batches scored; the best one starts ADMM
    init_norm: float = 0.0  # each initial token vector's norm; 0 = the model's median token-embedding norm
    outer_steps: int = 30  # ADMM iterations (projection, x steps, dual update)
    inner_steps: int = 50  # Adam steps on x per ADMM iteration
    lr: float = 0.008
    rho: float = 1.0  # ADMM penalty; the release sweeps {0.01, 0.1, 0.5, 1, 5}
    grad_clip: float = 1.0  # x-gradient norm clipped to this
    topk: int = 200  # nearest whitelisted tokens per position offered to the LM-greedy decoding
    max_token_chars: int = 17  # longest token text allowed in the whitelist
    decode_prefix: str = RELEASED_DECODE_PREFIX  # the LM-greedy projection's instruction, {label} = the class word
    # making a set from the pool
    label_filter: bool = field(default=True, metadata=DISTILL)  # drop texts the LM's few-shot guess puts elsewhere
    filter_shots: int = field(default=2, metadata=DISTILL)  # train examples per class in the few-shot prompt
    selection: str = field(default="top_score", metadata=DISTILL)  # top_score | greedy (set-level gradient match)
    perplexity_weight: float = field(default=0.0, metadata=DISTILL)  # score = distance + weight x NLL (release: 0, 0.05)
    # placement and resilience
    device: str = field(default="auto", metadata=RUNTIME)
    checkpoint_minutes: float = field(default=10.0, metadata=RUNTIME)

    def to_dict(self) -> dict:
        return {**asdict(self), "label_words": list(self.label_words)}


SELECTIONS = ("top_score", "greedy")
RHO_SWEEP = (0.01, 0.1, 0.5, 1.0, 5.0)  # scripts/admm.sh LIST_RHO

PRESETS: dict[str, GradmmConfig] = {
    # scripts/admm.sh + args_factory.py defaults: Phi-1.5 in fp32 (hub only), 25 real examples per class, 10 calls x
    # 10 sequences per class, 30 x 50 ADMM steps, top-200 projection, 500 init candidates. rho is swept in the release.
    "paper": GradmmConfig(model="microsoft/phi-1_5", label_words=("bad", "great"), real_per_class=25, gen_bs=10,
                          pool_per_class=100, init_candidates=500, outer_steps=30, inner_steps=50, rho=1.0),
    # SmolLM2-135M-Instruct on 2 cores: a pool of 40 per class (DPC 20 with 2x over-generation), 8 x 8 ADMM steps and
    # 10 init candidates (perf/test_gradmm_speed.py: 8 calls, about 73 min on a loaded 2-core CPU), rho 0.1
    # (provisional: at rho 1 the matching loss did not fall in a few iterations on SmolLM2, at 0.1 and 0.01 it did;
    # to be chosen on a validation split carved from train); the rest as released.
    "cpu": GradmmConfig(pool_per_class=40, init_candidates=10, outer_steps=8, inner_steps=8, rho=0.1),
}


def field_names(runtime: bool = True) -> tuple[str, ...]:
    """GradmmConfig's fields; without the runtime ones (ids and cache keys)."""
    return tuple(f.name for f in fields(GradmmConfig) if runtime or not f.metadata.get("runtime"))


def pool_fields() -> tuple[str, ...]:
    """The fields the candidate pool depends on (its cache key): neither runtime nor distill-time ones."""
    return tuple(f.name for f in fields(GradmmConfig) if not f.metadata.get("runtime") and not f.metadata.get("distill"))


def resolve(preset: str, overrides: dict) -> GradmmConfig:
    """The preset's config with every non-None override over it; unknown names or values raise a clear error."""
    if overrides.get("label_words") is not None:
        overrides = {**overrides, "label_words": tuple(overrides["label_words"])}
    cfg = over_preset(PRESETS, preset, overrides, "GRADMM")
    if cfg.selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {cfg.selection!r}")
    if "{label}" not in cfg.decode_prefix:
        raise ValueError(f"decode_prefix must contain {{label}}, got {cfg.decode_prefix[:60]!r}")
    for name in ("gen_bs", "pool_per_class", "init_candidates", "outer_steps", "inner_steps", "topk"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.rho <= 0:
        raise ValueError(f"rho must be positive, got {cfg.rho}")
    return cfg
