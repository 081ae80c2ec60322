"""Many fine-tunes of one recipe trained at once: the runs' model copies are stacked and run with
``torch.func`` (``stack_module_state`` + ``vmap`` + ``functional_call``, dropout drawn per copy).

Each run keeps its own seed (its fresh head), its own data order (``batch_indices`` with its seed) and its
own optimizer state: AdamW, clipping and weight decay act per copy, so a run's result does not depend on
its neighbours beyond the dropout draws. Three savings come with it, all exact up to float rounding:
- packing: a step's sequences are laid end to end in rows as long as its longest one (at least
  ``TRAIN_ROW`` tokens), each attending only to itself (block-diagonal mask, positions restarting), so little
  compute goes to padding;
- a compact vocabulary: only the embedding rows the training sets use are trained; AdamW leaves every
  other row at ``w0 * prod(1 - lr_t * wd)`` (zero gradient, zero moments), applied once at the end;
- the test split is tokenised and packed once and scored by all copies together.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from benchmark.core.tokenization import tokenize
from benchmark.learners.base import batch_indices, cast_floats, class_weights, compute_dtype
from benchmark.learners.checkpoints import TrainingCheckpoints
from benchmark.learners.progress import logged_steps


@dataclass(frozen=True)
class Architecture:
    """How a classifier family reads a packed sequence: which token feeds the head, the head itself, and the
    position ids its embeddings expect (``offset(model)`` + 0, 1, ...)."""

    read: str  # "first" (encoders: [CLS]/<s>) or "last" (decoders: the last real token)
    head: Callable  # (model, features [N, H]) -> logits [N, K]
    causal: bool = False
    offset: Callable = lambda model: 0


def _after_padding(model) -> int:
    return model.base_model.embeddings.padding_idx + 1  # RoBERTa/MPNet positions start after the padding index


ARCHITECTURES = {
    "bert": Architecture("first", lambda m, f: m.classifier(m.dropout(m.bert.pooler(f[:, None])))),
    "mpnet": Architecture("first", lambda m, f: m.classifier(f[:, None]), offset=_after_padding),
    "roberta": Architecture("first", lambda m, f: m.classifier(f[:, None]), offset=_after_padding),
    "llama": Architecture("last", lambda m, f: m.score(f), causal=True),
    "gpt2": Architecture("last", lambda m, f: m.score(f), causal=True),
}


TRAIN_ROW = 128  # training rows hold at least this many tokens: a few short sentences share one row


def supports(config) -> bool:
    """Whether models of this config can be stacked and packed (other architectures run one at a time)."""
    return config.model_type in ARCHITECTURES


def pack(lengths: list[int], capacity: int) -> tuple[list[tuple[int, int]], int]:
    """First-fit decreasing: (row, start) of each sequence in rows of ``capacity`` tokens, and the row count."""
    rows: list[int] = []  # tokens used per row
    place = [(0, 0)] * len(lengths)
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, used in enumerate(rows) if used + lengths[i] <= capacity), None)
        if row is None:
            rows.append(0)
            row = len(rows) - 1
        place[i] = (row, rows[row])
        rows[row] += lengths[i]
    return place, len(rows)


def packed_batch(groups: list[list[dict]], arch: Architecture, offset: int, pad_id: int, min_row: int = 0) -> dict:
    """Tensors for ``M`` groups of tokenised sequences (one group per copy), packed in rows as long as the longest
    sequence (so attention costs no more than in a padded batch): inputs [M, R, C], positions from ``offset``, an
    additive
    block-diagonal mask [M, R, 1, C, C] (a padding slot attends to itself only), and the (row, column) of the
    token each sequence's head reads, with a 0/1 weight for groups shorter than the longest."""
    capacity = max(min_row, *(len(f["input_ids"]) for g in groups for f in g))
    placements = [pack([len(f["input_ids"]) for f in g], capacity) for g in groups]
    n_rows = max(r for _, r in placements)
    n_seq = max(len(g) for g in groups)
    m = len(groups)
    keys = [k for k in groups[0][0] if k != "attention_mask"]
    inputs = {k: torch.full((m, n_rows, capacity), pad_id if k == "input_ids" else 0, dtype=torch.long)
              for k in keys}
    positions = torch.zeros(m, n_rows, capacity, dtype=torch.long)
    block = torch.full((m, n_rows, capacity), -1, dtype=torch.long)  # the sequence each slot belongs to
    read = torch.zeros(m, 2, n_seq, dtype=torch.long)
    weight = torch.zeros(m, n_seq)
    for g, (group, (place, _)) in enumerate(zip(groups, placements)):
        for i, (feature, (row, start)) in enumerate(zip(group, place)):
            length = len(feature["input_ids"])
            for k in keys:
                inputs[k][g, row, start:start + length] = torch.as_tensor(feature[k])
            positions[g, row, start:start + length] = torch.arange(offset, offset + length)
            block[g, row, start:start + length] = i
            read[g, :, i] = torch.tensor([row, start if arch.read == "first" else start + length - 1])
            weight[g, i] = 1.0
    same = block[..., :, None] == block[..., None, :]
    allowed = same & (block[..., :, None] >= 0) | torch.eye(capacity, dtype=torch.bool)
    if arch.causal:
        allowed &= torch.ones(capacity, capacity, dtype=torch.bool).tril()
    mask = torch.zeros(allowed.shape).masked_fill_(~allowed, torch.finfo(torch.float32).min)[:, :, None]
    return {"inputs": inputs, "positions": positions, "mask": mask, "read": read, "weight": weight}


class PackedClassifier(torch.nn.Module):
    """A classifier read from packed rows: the base model over the rows, then its head on the tokens read.
    Its ``model.*`` parameters are swapped per copy by ``functional_call``."""

    def __init__(self, model, arch: Architecture):
        super().__init__()
        self.model, self.arch = model, arch

    def forward(self, inputs: dict, positions, mask, read):
        extra = {"use_cache": False} if self.arch.causal else {}
        out = self.model.base_model(**inputs, position_ids=positions, attention_mask=mask, **extra)
        return self.arch.head(self.model, out.last_hidden_state[read[0], read[1]])


def fit_predict_stacked(recipe, path: str, trains: list, test, num_labels: int, seeds: list[int],
                        device: str) -> list[np.ndarray]:
    """Train one copy of the classifier at ``path`` per (train set, seed) with ``recipe``'s hyper-parameters
    (a ``TransformerClassifier``), all at once, and return each copy's predicted test labels."""
    from transformers import get_cosine_schedule_with_warmup

    tokenizer, models = _load_copies(path, num_labels, seeds)
    arch = ARCHITECTURES[models[0].config.model_type]
    offset = arch.offset(models[0])
    embedding = models[0].get_input_embeddings()
    embedding_name = "model." + next(n for n, p in models[0].named_parameters() if p is embedding.weight)
    features = [tokenize(tokenizer, train.texts, recipe.max_length) for train in trains]
    vocab, remap = _compact_vocabulary(features, embedding, tokenizer.pad_token_id)
    params, buffers = stack_module_state(models)
    template = PackedClassifier(copy.deepcopy(models[0]).to("meta"), arch)
    del models
    params = {f"model.{k}": v.detach().to(device) for k, v in params.items()}
    buffers = {f"model.{k}": v.to(device) for k, v in buffers.items()}
    full_embedding = params[embedding_name]
    params[embedding_name] = full_embedding[:, vocab.to(device)].clone()
    for value in params.values():
        value.requires_grad_()

    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params.values() if p.ndim > 2], "weight_decay": recipe.weight_decay},
         {"params": [p for p in params.values() if p.ndim <= 2], "weight_decay": 0.0}],
        lr=recipe.lr, **({"fused": True} if device == "cpu" else {}))
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(recipe.warmup_ratio * recipe.steps), recipe.steps)
    train_features = [[{**f, "input_ids": remap[f["input_ids"]].tolist()} for f in fs] for fs in features]
    labels = [torch.as_tensor(train.labels, dtype=torch.long) for train in trains]
    weights = [class_weights(train.labels, num_labels, recipe.class_weight) for train in trains]  # per copy's set
    pad = int(remap[tokenizer.pad_token_id])
    step_loss = vmap(_weighted_loss(template), randomness="different")
    dtype = compute_dtype(recipe.precision, device)
    low_buffers = cast_floats(buffers, dtype)
    orders = [batch_indices(len(fs), recipe.batch_size, recipe.steps, seed) for fs, seed in zip(features, seeds)]
    shrink = 1.0  # what weight decay alone did to the embedding rows no training set uses
    checkpoints = TrainingCheckpoints({"recipe": recipe.get_params(), "path": path, "num_labels": num_labels,
                                       "seeds": seeds, "sets": [train.checksum() for train in trains]})

    def state() -> dict:
        return {"params": {k: v.detach() for k, v in params.items()}, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "shrink": shrink}

    if (saved := checkpoints.resume(device, optimizer, scheduler)) is not None:
        with torch.no_grad():
            for name, value in params.items():
                value.copy_(saved["params"][name])
        shrink = saved["shrink"]
    template.train()
    for step, indices in checkpoints.steps(zip(*orders), recipe.steps, f"train {len(trains)} stacked"):
        batch = packed_batch([[fs[i] for i in idx] for fs, idx in zip(train_features, indices)], arch, offset,
                             pad, TRAIN_ROW)
        targets = _targets(batch, indices, labels, weights)
        batch = {k: _to(v, device) for k, v in batch.items()}
        losses = step_loss(cast_floats(params, dtype), low_buffers, batch["inputs"], batch["positions"],
                           batch["mask"].to(dtype), batch["read"], targets.to(device), batch["weight"])
        losses.sum().backward()
        _clip_per_copy(list(params.values()), recipe.max_grad_norm)
        shrink *= 1.0 - optimizer.param_groups[0]["lr"] * recipe.weight_decay
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        checkpoints.save_if_due(step + 1, state)
    checkpoints.save_last(recipe.steps, state)

    trained = {k: v.detach() for k, v in params.items()}
    full_embedding.mul_(shrink)
    full_embedding[:, vocab.to(device)] = trained[embedding_name]
    trained[embedding_name] = full_embedding
    return _predict(template, cast_floats(trained, dtype), low_buffers, tokenize(tokenizer, test.texts,
                    recipe.max_length), arch, offset, tokenizer.pad_token_id, recipe.eval_batch_size, device)


def _load_copies(path: str, num_labels: int, seeds: list[int]):
    """The tokenizer and one pretrained classifier per seed, each head drawn from its seed exactly as the
    one-at-a-time path draws it, the checkpoint loaded once (``pretrained_classifiers``); eager attention, whose
    matmuls vmap batches (fused SDPA kernels it loops)."""
    from benchmark.core.classifiers import load_tokenizer, pretrained_classifiers

    tokenizer = load_tokenizer(path)
    return tokenizer, pretrained_classifiers(path, num_labels, list(seeds), tokenizer.pad_token_id,
                                             attn_implementation="eager")


def _compact_vocabulary(features: list[list[dict]], embedding, pad_id: int):
    """The embedding rows the training sets use (plus padding), sorted, and the map from token id to row;
    ids up to the embedding's padding index keep their place, so its gradient masking still applies."""
    keep = set(range((embedding.padding_idx or 0) + 1)) | {pad_id}
    for fs in features:
        for f in fs:
            keep.update(f["input_ids"])
    vocab = torch.tensor(sorted(keep))
    remap = np.full(embedding.num_embeddings, -1, dtype=np.int64)
    remap[vocab.numpy()] = np.arange(len(vocab))
    return vocab, remap


def _targets(batch: dict, indices, labels: list, weights: list):
    """Each copy's labels in its batch's sequence slots; with class weights, each sequence's loss weight times its
    class's (the loss is sum(w x l) / sum(w): weighted cross-entropy, as one at a time)."""
    targets = torch.zeros(batch["weight"].shape, dtype=torch.long)
    for m, idx in enumerate(indices):
        targets[m, :len(idx)] = labels[m][idx]
        if weights[m] is not None:
            batch["weight"][m, :len(idx)] *= torch.as_tensor(weights[m], dtype=torch.float32)[labels[m][idx]]
    return targets


def _weighted_loss(template: PackedClassifier):
    def loss(params, buffers, inputs, positions, mask, read, targets, weight):
        logits = functional_call(template, (params, buffers), (inputs, positions, mask, read))
        per_sequence = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
        return (per_sequence * weight).sum() / weight.sum()
    return loss


def _clip_per_copy(params: list, max_norm: float) -> None:
    """``clip_grad_norm_`` applied to each copy separately (its total norm over all its parameters)."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.ndim - 1)))


def _predict(template, params, buffers, features, arch, offset, pad_id, batch_size, device):
    """Every copy's predicted labels for the test features: chunks (shortest first) packed once and scored by
    one copy after the other with fused attention (scoring has no small batches for stacking to fill), in the
    dtype of ``params``."""
    dtype = next(iter(params.values())).dtype
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
    chunks = [(order[start:start + batch_size],
               _to(packed_batch([[features[i] for i in order[start:start + batch_size]]], arch, offset, pad_id),
                   device, first=True))
              for start in range(0, len(order), batch_size)]
    for _, batch in chunks:
        batch["mask"] = batch["mask"].to(dtype)
    copies = len(next(iter(params.values())))
    predictions = np.empty((copies, len(features)), dtype=np.int64)
    template.eval()
    template.model.set_attn_implementation("sdpa")
    with torch.inference_mode():
        for m in logged_steps(range(copies), copies, f"score test split ({len(features)} texts)", "copy"):
            own = ({k: v[m] for k, v in params.items()}, {k: v[m] for k, v in buffers.items()})
            for idx, batch in chunks:
                logits = functional_call(template, own, (batch["inputs"], batch["positions"], batch["mask"],
                                                         batch["read"]))
                predictions[m, idx] = logits.argmax(-1).cpu().numpy()
    return list(predictions)


def _to(value, device: str, first: bool = False):
    """A tensor (or a dict of them) on ``device``; ``first`` drops the leading one-group dimension."""
    if isinstance(value, dict):
        return {k: _to(v, device, first) for k, v in value.items()}
    return (value[0] if first else value).to(device)


# Fitted (minimax) to the peaks of ten measured all-MiniLM-L6-v2 stacks (1-12 copies, DPC 5-20): within 15% of each.
MEMORY_OVERHEAD_BYTES = 110 * 2 ** 20
STATIC_FACTOR = 1.1  # allocator slack on the weights and optimizer state
ACTIVATION_FACTOR = 1.5  # vmap over eager attention keeps more than the textbook fp32 activations


def stack_peak_bytes(config, copies: int, slots: int, trained_params: float, n_params: float) -> float:
    """Peak memory of a stack above the process's baseline: per copy, its weights (stacked) and, for the trained
    parameters (the compact vocabulary's rows and every other weight), gradients and AdamW moments; plus the
    activations of its packed rows (``slots`` = rows x row length: Korthikanti et al.'s b s h (34 + 5 a s / h) bytes
    per layer in 16-bit, doubled for fp32, times ``ACTIVATION_FACTOR``), with the constants above
    (``tests/test_stacked.py`` checks it against two more measured shapes: within 25%)."""
    row = TRAIN_ROW
    per_slot = config.num_hidden_layers * config.hidden_size * (34 + 5 * config.num_attention_heads * row
                                                                / config.hidden_size) * 2
    per_copy = STATIC_FACTOR * (4 * n_params + 12 * trained_params) + ACTIVATION_FACTOR * per_slot * slots
    return MEMORY_OVERHEAD_BYTES + copies * per_copy


def width_for(config, batch_size: int, max_length: int, device: str, cap: int, lengths: list[int] | None = None) -> int:
    """Runs per stack: as many as ``stack_peak_bytes`` says fit in three quarters of the device's free memory (CPU
    RAM or GPU), at least 1 and at most ``cap``. A step's packed rows come from the sets' token ``lengths``
    (``step_slots``); without them, from the batch at half the maximum length per sequence."""
    from transformers import AutoModelForSequenceClassification

    with torch.device("meta"):
        n_params = sum(p.numel() for p in AutoModelForSequenceClassification.from_config(config).parameters())
    trained = trained_parameters(n_params, config.vocab_size, config.hidden_size)
    if lengths:
        slots = step_slots(lengths, batch_size)
    else:
        row = max(TRAIN_ROW, max_length)
        slots = row * -(-batch_size * max_length // 2 // row)
    return widest(config, slots, trained, n_params, 0.75 * free_memory(device), cap)


def trained_parameters(n_params: float, vocab_size: int, hidden_size: int) -> float:
    """The parameters a stacked copy trains: all but the embedding rows no training set uses (at most 5,000 kept)."""
    return n_params - vocab_size * hidden_size + min(vocab_size, 5000) * hidden_size


def step_slots(lengths: list[int], batch_size: int) -> int:
    """Tokens of a copy's largest packed step (rows x row length): its ``batch_size`` longest sequences packed in
    rows as long as the longest (at least ``TRAIN_ROW``), as ``packed_batch`` lays them out."""
    longest = sorted(lengths)[-batch_size:]
    row = max(TRAIN_ROW, longest[-1])
    return row * pack(longest, row)[1]


def widest(config, slots: int, trained: float, n_params: float, budget: float, cap: int) -> int:
    """The most copies (1 to ``cap``) whose ``stack_peak_bytes`` fits in ``budget`` bytes."""
    width = 1
    while width < cap and stack_peak_bytes(config, width + 1, slots, trained, n_params) <= budget:
        width += 1
    return width


def free_memory(device: str) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the RAM the OS reports as available."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError):
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
