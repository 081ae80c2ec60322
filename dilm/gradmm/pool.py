"""A GRADMM fit: per class, the real examples' target gradient, then ``pool_per_class`` candidate texts made by
ADMM calls of ``gen_bs`` sequences, each text scored by its own head gradient's distance to the target and its
mean NLL. Every finished call is kept in ``work`` (JSON), an unfinished one checkpointed there by wall time
(safetensors + JSON, written to a temporary name and renamed), so a killed fit loses at most a few minutes."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from dilm.checkpoint import Schedule
from dilm.gradmm.admm import AdmmState, Matcher, initial_batch, run_admm
from dilm.gradmm.config import GradmmConfig
from dilm.gradmm.head_gradient import per_example_terms
from dilm.gradmm.projection import Projector
from dilm.gradmm.text import Verbaliser, class_target, encode_texts, features, mean_nll, typical_norm, whitelist

log = logging.getLogger("dilm.gradmm")


def write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def write_tensors(path: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)


def real_subset(n: int, count: int, seed: int, label: int) -> np.ndarray:
    """Which of a class's ``n`` real examples enter its target: ``count`` drawn by (seed, class), or all (0)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, label]).choice(n, count, replace=False))


def free_length(rows: list[list[int]], suffix_len: int, gen_tokens: int) -> int:
    """Free positions per sequence: as given, or the class's mean real length (suffix included) minus the suffix
    (``use_auto_gen_tokens``: generate.py 1520)."""
    return gen_tokens if gen_tokens > 0 else max(1, int(np.mean([len(r) for r in rows])) - suffix_len)


class PoolBuilder:
    """Builds the candidate pool of one task for one config and seed; ``work`` holds its progress."""

    def __init__(self, model, tokenizer, cfg: GradmmConfig, words, seed: int, work: Path):
        self.model, self.tokenizer, self.cfg, self.seed, self.work = model, tokenizer, cfg, seed, work
        self.words = tuple(words)
        self.verbaliser = Verbaliser.build(tokenizer, cfg.prompt_suffix, self.words)
        self.allowed = whitelist(tokenizer, cfg.max_token_chars)
        self.norm = cfg.init_norm if cfg.init_norm > 0 else typical_norm(model, self.allowed)
        self.schedule = Schedule(cfg.checkpoint_minutes)

    def build(self, texts_by_class: list[list[str]]) -> tuple[dict, dict]:
        """(pool, tensors): per class the candidate texts with their distance, NLL and call, and the per-example
        terms that score any subset of them (``head_gradient.subset_distance``); the fit's report rides in pool."""
        self.work.mkdir(parents=True, exist_ok=True)
        classes, tensors = [], {}
        for label, texts in enumerate(texts_by_class):
            entry, terms = self.build_class(label, texts)
            classes.append(entry)
            tensors.update({f"class{label}.{k}": v.detach().cpu().contiguous() for k, v in terms.items()})
        pool = {"classes": classes, "label_words": list(self.words), "init_norm": self.norm,
                "whitelist_size": int(len(self.allowed)), "checkpoints_saved": self.schedule.saves}
        return pool, tensors

    def build_class(self, label: int, texts: list[str]) -> tuple[dict, dict]:
        cfg, suffix = self.cfg, self.verbaliser.suffix_ids
        label_id = self.verbaliser.label_ids[label]
        chosen = real_subset(len(texts), cfg.real_per_class, self.seed, label)
        rows = encode_texts(self.tokenizer, [texts[i] for i in chosen], suffix)
        t0 = time.perf_counter()
        target = class_target(self.model, rows, label_id)
        target_s = time.perf_counter() - t0
        length = free_length(rows, len(suffix), cfg.gen_tokens)
        prefix = self.tokenizer(cfg.decode_prefix.format(label=self.words[label]))["input_ids"]
        projector = Projector(self.model, self.allowed, prefix, cfg.topk)
        matcher = Matcher(self.model, suffix, label_id, target)
        texts_out, calls = [], []
        for call in range(math.ceil(cfg.pool_per_class / cfg.gen_bs)):
            done = self.work / f"class{label}.call{call}.json"
            if not done.exists():
                write_json(done, self.run_call(matcher, projector, label, call, length))
            result = json.loads(done.read_text(encoding="utf-8"))
            calls.append({k: result[k] for k in ("history", "init_loss", "best_loss", "seconds")})
            texts_out.extend(result["texts"])
        texts_out = texts_out[:cfg.pool_per_class]
        a, h = features(self.model, encode_texts(self.tokenizer, texts_out, suffix), label_id)
        terms = per_example_terms(a, h, target)
        own = 1.0 - terms["s"] / (torch.sqrt((a * a).sum(1) * (h * h).sum(1)).clamp_min(1e-30) * terms["target_norm"])
        if "s_bias" in terms:
            own = (own + 1.0 - terms["s_bias"] / (a.norm(dim=1).clamp_min(1e-30) * terms["bias_norm"])) / 2
        nll = mean_nll(self.model, [r if r else [self.tokenizer.eos_token_id or 0]
                                    for r in encode_texts(self.tokenizer, texts_out, ())])
        entry = {"label": label, "texts": texts_out, "distance": [round(float(v), 6) for v in own],
                 "nll": [round(float(v), 6) for v in nll], "call": [i // cfg.gen_bs for i in range(len(texts_out))],
                 "real_count": target.count, "free_tokens": length, "target_s": round(target_s, 1), "calls": calls}
        return entry, terms

    def run_call(self, matcher: Matcher, projector: Projector, label: int, call: int, length: int) -> dict:
        """One ADMM call (resumed from its checkpoint when there is one): its texts and how it went."""
        cfg, device = self.cfg, matcher.suffix.device
        name = f"class{label}.call{call}.state"
        state = self.load_checkpoint(name, device)
        t0 = time.perf_counter()
        if state is None:
            generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, label, call]).generate_state(1)[0]))
            shape = (cfg.gen_bs, length, matcher.suffix.shape[-1])
            x, init_loss = initial_batch(matcher, shape, cfg.init_candidates, self.norm, generator)
            state = AdmmState.start(x, init_loss)

        before = state.elapsed

        def checkpoint(s: AdmmState) -> None:
            if self.schedule.due() and s.iteration < cfg.outer_steps:
                s.elapsed = before + time.perf_counter() - t0
                self.save_checkpoint(name, s)
                self.schedule.saved()

        state = run_admm(matcher, projector, state, cfg.outer_steps, cfg.inner_steps, cfg.lr, cfg.rho, cfg.grad_clip,
                         checkpoint)
        ids = projector(state.best_x)
        texts = [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids.tolist()]
        log.info("class %d call %d: matching loss %.4f -> %.4f", label, call, state.init_loss,
                 state.history[-1]["matching"] if state.history else float("nan"))
        for path in (self.work / f"{name}.json", self.work / f"{name}.safetensors"):
            path.unlink(missing_ok=True)
        return {"texts": texts, "history": state.history, "init_loss": state.init_loss, "best_loss": state.best_loss,
                "seconds": round(before + time.perf_counter() - t0, 1)}

    def save_checkpoint(self, name: str, state: AdmmState) -> None:
        write_tensors(self.work / f"{name}.safetensors", state.tensors())
        write_json(self.work / f"{name}.json", state.meta())  # last: its presence means the tensors are whole

    def load_checkpoint(self, name: str, device) -> AdmmState | None:
        meta_path = self.work / f"{name}.json"
        if not meta_path.exists():
            return None
        from safetensors.torch import load_file

        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        state = AdmmState.restore(load_file(str(self.work / f"{name}.safetensors")), meta, device)
        log.info("resuming %s at ADMM iteration %d", name, state.iteration)
        return state
