"""Stage 1: the generator learns the train split as a class-conditional LM (``<bos_y> text <eos>``).

AdamW (weight decay 0.01, none on 1-D parameters), cosine schedule with warmup, clip 1.0; resumable
from ``checkpoint_dir`` (checkpoints every ``cfg.checkpoint_minutes`` of wall time and at the end: a killed
run continues from its last checkpoint, not from zero).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dilm import checkpoint, weight_drift
from dilm.config import DiLMConfig
from dilm.generator import Generator

log = logging.getLogger("dilm.stage1")


def autocast(device, amp: str):
    """bf16 autocast on CUDA (``amp`` auto or bf16); plain fp32 elsewhere."""
    import torch

    use = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if use else contextlib.nullcontext()


def lr_schedule(optimizer, kind: str, warmup_ratio: float, total_steps: int):
    """``constant``, or ``cosine`` decay after a linear warmup over ``warmup_ratio`` of ``total_steps``."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def param_groups(model, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_lm(generator: Generator, texts, labels, cfg: DiLMConfig, seed: int, checkpoint_dir: Path,
             schedule: checkpoint.Schedule | None = None) -> dict:
    """Fine-tune ``generator`` on (texts, labels) for ``cfg.lm_steps`` steps; returns a small report."""
    import torch

    sequences = generator.encode(list(texts), list(labels), cfg.max_length)
    model = generator.model
    optimizer = torch.optim.AdamW(param_groups(model, 0.01), lr=cfg.lm_lr)
    scheduler = lr_schedule(optimizer, "cosine", cfg.lm_warmup_ratio, cfg.lm_steps)
    initial = weight_drift.snapshot(model)  # before a checkpoint loads: the pretrained weights either way
    start, _ = checkpoint.load(checkpoint_dir, model, optimizer, scheduler)
    schedule = schedule or checkpoint.Schedule(cfg.checkpoint_minutes)
    if start:
        log.info("stage 1: resuming from step %d of %d", start, cfg.lm_steps)
    order = _batches(len(sequences), cfg.lm_batch_size, cfg.lm_steps, seed)
    model.train()
    losses = []
    bar = tqdm(range(start, cfg.lm_steps), initial=start, total=cfg.lm_steps, desc="dilm stage 1 (LM)",
               unit="step", disable=None)
    for step in bar:
        batch = [sequences[i] for i in order[step]]
        if cfg.lm_packing:
            ids, positions, targets = generator.pack(batch, cfg.max_length)
            inputs = {"input_ids": ids, "position_ids": positions}
        else:
            ids, mask, targets = generator.pad(batch)
            inputs = {"input_ids": ids, "attention_mask": mask}
        with autocast(generator.device, cfg.amp):  # no cache: with one, transformers ignores the packed positions
            loss = model(**inputs, labels=targets, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if schedule.due() or step + 1 == cfg.lm_steps:
            checkpoint.save(checkpoint_dir, step + 1, model, optimizer, scheduler)
            schedule.saved()
            log.info("stage 1: step %d/%d, loss %.4f (checkpoint saved)", step + 1, cfg.lm_steps, losses[-1])
    model.eval()
    return {"steps": cfg.lm_steps, "resumed_from": start, "checkpoints": schedule.saves,
            "final_loss": losses[-1] if losses else None,
            "weight_drift": weight_drift.drift(initial, weight_drift.parameters(model))}


def _batches(n: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """Index batches for ``steps`` steps: seeded epochs of a shuffled order (reproducible on resume)."""
    rng = np.random.default_rng(seed)
    batch_size = min(batch_size, n)
    out, order = [], np.empty(0, dtype=np.int64)
    while len(out) < steps:
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(n)])
        out.append(order[:batch_size])
        order = order[batch_size:]
    return out
