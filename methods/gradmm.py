"""``gradmm``: GRADMM (Nguyen et al., ICML 2025), DiLM's successor, as a method of this harness.

A thin adapter over ``dilm/gradmm``. The fit builds, per class, the real examples' mean LM-head gradient and a
pool of candidate texts optimised by ADMM to match it, each with its own gradient distance and NLL; the pool is
built once per (task, split checksum, pool settings, seed) under ``artifact_root()`` behind a file lock, resumable
from wall-time checkpoints, and copied into the fit cell. A set is the LM's few-shot label filter (its verdicts
cached beside the pool, never in the fit cell), a random half per seed, then DPC texts per class by score or by the
set-level greedy rule. Every hyper-parameter left at None comes from the preset (``dilm/gradmm/config.py``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.core.assets import pick_device, resolve_model
from benchmark.core.cache import artifact_root, build_once, cache_kind, file_build_seconds, note_artifact
from benchmark.core.errors import MissingAssetError, UsageError
from benchmark.core.names import safe_name
from benchmark.tasks.base import Examples, Task
from dilm.gradmm.config import PRESETS, GradmmConfig, field_names, pool_fields, resolve
from methods import METHODS
from methods.base import DistilledSet, FitContext, Method, MethodCard, config_constructor

log = logging.getLogger("methods.gradmm")

# Bumped whenever what a cached pool holds or how it is made changes: older entries are then never reused.
FORMAT_VERSION = 1
CITATION = ("Nguyen, Li, Bateni, Mirrokni, Razaviyayn, Mirzasoleiman, Synthetic Text Generation for Training Large "
            "Language Models via Gradient Matching, ICML 2025")
POOL, TERMS, REPORT = "pool.json", "terms.safetensors", "fit_report.json"

CACHE_KIND = cache_kind("gradmm", "GRADMM candidate pools (ADMM-optimised texts, their gradient terms) and the "
                        "filter's verdicts", shared=True)


@dataclass
class PoolState:
    """A fitted pool: per class the candidate texts and scores (``pool``), the per-example gradient terms that score
    any subset (``terms``), the resolved config, and where the distill cells keep the filter's verdicts."""

    task: Task
    config: GradmmConfig
    pool: dict
    terms: dict
    report: dict
    verdicts_dir: Path


@METHODS.register("gradmm")
class GRADMM(Method):
    """GRADMM: texts whose LM-head gradient matches the real data's, optimised as embeddings by ADMM and projected
    onto readable tokens; filtered by the LM's few-shot guess, then chosen by gradient score."""

    seeded_fit = True  # the real examples of the target and the initial batches are drawn from the fit's seed
    PRESETS = PRESETS
    CARD = MethodCard(
        summary="GRADMM (DiLM's successor): per class, input embeddings of gen_bs sequences fed to a frozen causal LM "
                "are moved by ADMM so that the LM head's gradient on them (closed form, verbaliser token after "
                "' It was') matches the class-mean gradient of real examples, and projected onto the top-k nearest "
                "vocabulary tokens by LM-greedy decoding; then the LM's few-shot label filter and DPC texts per "
                "class by own-gradient score (top_score) or set-level greedy. Adaptation: each seed chooses from a "
                "random half of the filtered pool, so sets of one fit differ (the release keeps one set).",
        fit_cost="per class: the real examples' head gradient, then pool_per_class / gen_bs ADMM calls (each: "
                 "init_candidates forwards, outer x (one projection + inner forward/backward steps)); cpu preset: "
                 "8 calls on rt-polarity, projected about 73 min on a loaded 2-core CPU; cached and resumable",
        distill_cost="the LM's few-shot classification of every pool text (once per pool, cached), then selection "
                     "from numbers (seconds)",
        citation=CITATION)
    # the real SmolLM2 (each forward reads its 0.5 GB of weights): two calls of two 3-token sequences per class
    TEST_PARAMS = {"real_per_class": 2, "gen_bs": 2, "gen_tokens": 3, "pool_per_class": 4, "init_candidates": 1,
                   "outer_steps": 1, "inner_steps": 1, "topk": 8, "decode_prefix": "A {label} review:",
                   "filter_shots": 1}
    MODEL_PARAMS = ("model",)
    REHEARSAL_PARAMS = {"init_candidates": 2, "outer_steps": 1, "inner_steps": 2}  # one step of each loop per call
    __init__ = config_constructor(GradmmConfig, field_names())

    def config(self) -> GradmmConfig:
        """The preset's values with this method's explicit parameters over them."""
        params = self.get_params()
        try:
            return resolve(params.pop("preset"), params)
        except ValueError as exc:
            raise UsageError(f"gradmm: {exc}") from None

    @classmethod
    def resolved_config(cls, params: dict, task: str | None = None) -> dict:
        config = cls(**params).config().to_dict()
        return {**{name: config[name] for name in field_names(runtime=False)}, "format_version": FORMAT_VERSION}

    def words_for(self, task: Task, cfg: GradmmConfig) -> tuple[str, ...]:
        words = tuple(cfg.label_words) or tuple(task.label_words)
        if len(words) != task.num_classes:
            raise UsageError(f"gradmm: label_words {list(words)} name {len(words)} classes but task {task.name!r} has "
                             f"{task.num_classes}; give one word per class (label_words: [...]) or leave it empty "
                             f"to use the task's label words {list(task.label_words)}")
        return words

    def fit(self, task: Task, ctx: FitContext) -> PoolState:
        cfg = self.config()
        if len(task.text_fields) != 1:
            raise UsageError(f"gradmm makes single-text examples; task {task.name!r} has fields "
                             f"{list(task.text_fields)}: use a single-text task")
        words = self.words_for(task, cfg)
        device = pick_device(cfg.device)
        folder, report = cached_pool(task, cfg, words, ctx.seed, device)
        pool = json.loads((folder / POOL).read_text(encoding="utf-8"))
        from safetensors.numpy import load_file

        terms = load_file(str(folder / TERMS))
        report = {"config": cfg.to_dict(), "device": device, **report, "pool": summary(pool)}
        return PoolState(task, cfg, pool, terms, report, verdicts_dir(folder.name))

    def fit_report(self, state: PoolState) -> dict:
        return state.report

    def save_state(self, state: PoolState, directory: Path) -> None:
        from safetensors.numpy import save_file

        (directory / POOL).write_text(json.dumps(state.pool, ensure_ascii=False), encoding="utf-8")
        save_file(state.terms, str(directory / TERMS))
        (directory / REPORT).write_text(json.dumps(state.report, indent=2))

    def load_state(self, directory: Path, task: Task) -> PoolState:
        from safetensors.numpy import load_file

        report = json.loads((directory / REPORT).read_text())
        pool = json.loads((directory / POOL).read_text(encoding="utf-8"))
        return PoolState(task, self.config(), pool, load_file(str(directory / TERMS)), report,
                         verdicts_dir(report["cache"]))

    def distill(self, state: PoolState, dpc: int, seed: int) -> DistilledSet:
        from dilm.gradmm.selection import candidates_for, greedy, top_score

        cfg, task = state.config, state.task
        texts, labels, drawn, drawn_labels = [], [], [], []
        for entry in state.pool["classes"]:
            label, pool_texts = entry["label"], entry["texts"]
            if len(pool_texts) < dpc:
                raise UsageError(f"gradmm: the pool holds {len(pool_texts)} texts of class "
                                 f"{task.label_names[label]!r}, fewer than DPC {dpc}; raise pool_per_class to at "
                                 f"least {dpc} (twice that leaves the filter and the seed something to choose)")
            probabilities = label_verdicts(state, label) if cfg.label_filter else None
            indices = candidates_for(probabilities, pool_texts, label, dpc, seed)
            if cfg.selection == "greedy":
                terms = {k.split(".", 1)[1]: v for k, v in state.terms.items() if k.startswith(f"class{label}.")}
                keep = greedy(indices, terms, dpc)
            else:
                keep = top_score(indices, entry["distance"], entry["nll"], cfg.perplexity_weight, dpc)
            texts.extend((pool_texts[i],) for i in keep)
            labels.extend([label] * dpc)
            drawn.extend((t,) for t in pool_texts)
            drawn_labels.extend([label] * len(pool_texts))
        pool = Examples(tuple(drawn), np.asarray(drawn_labels, dtype=np.int64))
        return self.make_set(task, Examples(tuple(texts), np.asarray(labels, dtype=np.int64)), dpc, seed, pool=pool)


def summary(pool: dict) -> dict:
    """What the fit report shows of a pool: per class the matching loss over ADMM iterations (mean over calls), how
    far x sat from its projection, the texts' distances and NLLs, and the call times."""
    out = {key: pool[key] for key in ("label_words", "init_norm", "whitelist_size")}
    for entry in pool["classes"]:
        calls = entry["calls"]
        steps = min(len(c["history"]) for c in calls) if calls else 0
        out[f"class{entry['label']}"] = {
            "real_count": entry["real_count"], "free_tokens": entry["free_tokens"], "target_s": entry["target_s"],
            "init_loss": round(float(np.mean([c["init_loss"] for c in calls])), 4),
            "matching_loss": [round(float(np.mean([c["history"][i]["matching"] for c in calls])), 4) for i in range(steps)],
            "moved": [round(float(np.mean([c["history"][i]["moved"] for c in calls])), 4) for i in range(steps)],
            "distance_mean": round(float(np.mean(entry["distance"])), 4), "nll_mean": round(float(np.mean(entry["nll"])), 4),
            "call_s": [c["seconds"] for c in calls]}
    return out


_MODELS: dict = {}


def load_lm(name: str, device: str):
    """The frozen causal LM (fp32, eval, no parameter gradients) and its tokenizer, once per process."""
    key = (name, device)
    if key not in _MODELS:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        try:
            path = resolve_model(name)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_kernels=False)
        except OSError as exc:
            raise MissingAssetError(f"gradmm cannot load causal LM {name!r}: {str(exc).splitlines()[0][:200]}. Hub "
                                    f"models need the hub or a filled HF cache; the offline LM is 'smollm2'.") from None
        model.to(device).eval().requires_grad_(False)
        _MODELS[key] = (model, tokenizer)
    return _MODELS[key]


def pool_key(task: Task, cfg: GradmmConfig, words, seed: int) -> dict:
    values = {name: getattr(cfg, name) for name in pool_fields()}
    return {"task": task.name, "train_checksum": task.splits.train.checksum(), "seed": seed,
            "format_version": FORMAT_VERSION, **values, "label_words": list(words)}


def cached_pool(task: Task, cfg: GradmmConfig, words, seed: int, device: str) -> tuple[Path, dict]:
    """The pool's folder under ``artifact_root()/gradmm/pool`` (built once, under a file lock, landing by an atomic
    rename; a killed build resumes from its checkpoints in a ``.partial`` folder beside it) and its report."""
    from dilm.gradmm.pool import PoolBuilder, write_tensors

    key = pool_key(task, cfg, words, seed)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root = artifact_root() / CACHE_KIND / "pool"
    final = root / f"{safe_name(task.name, 'task name')}.{cfg.model.replace('/', '--')}.{digest}"
    partial = root / f".{final.name}.partial"
    reused = (final / POOL).exists()

    def build(staging: Path) -> None:
        model, tokenizer = load_lm(cfg.model, device)
        train = task.splits.train
        by_class = [[train.texts[i][0] for i in np.flatnonzero(train.labels == c)] for c in range(task.num_classes)]
        t0 = time.perf_counter()
        pool, tensors = PoolBuilder(model, tokenizer, cfg, words, seed, partial).build(by_class)
        pool.update(key=key, wall_s=round(time.perf_counter() - t0, 1))
        write_tensors(staging / TERMS, tensors)
        (staging / POOL).write_text(json.dumps(pool, ensure_ascii=False), encoding="utf-8")

    build_once(final, POOL, build)
    shutil.rmtree(partial, ignore_errors=True)
    pool = json.loads((final / POOL).read_text(encoding="utf-8"))
    return final, {"cache": final.name, "reused": reused, "wall_s": pool.get("wall_s")}


def verdicts_dir(pool_name: str) -> Path:
    """Where the filter's verdicts on one pool are kept: beside the pools, never inside the finished fit cell."""
    return artifact_root() / CACHE_KIND / "verdicts" / pool_name


def label_verdicts(state: PoolState, label: int) -> np.ndarray:
    """The LM's few-shot class probabilities of every pool text of class ``label`` (n x C), computed once per pool
    and filter setting and cached as JSON. The demonstrations are train examples (never the test split)."""
    cfg, task = state.config, state.task
    digest = hashlib.sha256(json.dumps({"shots": cfg.filter_shots, "model": cfg.model,
                                        "words": state.pool["label_words"]}).encode()).hexdigest()[:8]
    path = state.verdicts_dir / f"class{label}.{digest}.json"
    seconds = None
    if not path.exists():
        from dilm.gradmm.pool import write_json
        from dilm.gradmm.selection import few_shot_probabilities

        t0 = time.perf_counter()
        model, tokenizer = load_lm(cfg.model, pick_device(cfg.device))
        train = task.splits.train
        rng = np.random.default_rng(0)
        shots = [(train.texts[i][0], c) for c in range(task.num_classes)
                 for i in rng.choice(np.flatnonzero(train.labels == c), cfg.filter_shots, replace=False)]
        shots = [shots[i] for i in rng.permutation(len(shots))]
        texts = state.pool["classes"][label]["texts"]
        probabilities = few_shot_probabilities(model, tokenizer, texts, state.pool["label_words"], shots)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, probabilities.tolist())
        seconds = time.perf_counter() - t0
    note_artifact(path, seconds is not None, file_build_seconds(path, seconds))
    return np.asarray(json.loads(path.read_text()), dtype=np.float64)
