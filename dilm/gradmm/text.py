"""The verbaliser prompt and what GRADMM reads of a frozen causal LM's vocabulary: label tokens, the token
whitelist, the typical embedding norm, and the real examples' class-mean head gradient (the target)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from dilm.gradmm.head_gradient import HeadTarget, head, last_hidden, residuals

FORBIDDEN = set("*;:_\n-'<>{}[]()/\\|=+%@~`^#$&")  # generate.py 223: characters no whitelisted token may hold
WORD = re.compile(r"^[a-z]+(?:['-][a-z]+)*$")  # generate.py 217: a lower-case word, ' or - inside only


@dataclass(frozen=True)
class Verbaliser:
    """A text's class is the LM's next token after ``text + suffix``: ``label_ids`` holds each class's token (the
    first token of " word")."""

    suffix_ids: tuple[int, ...]
    label_ids: tuple[int, ...]

    @classmethod
    def build(cls, tokenizer, suffix: str, words) -> "Verbaliser":
        ids = tuple(tokenizer(" " + str(w).strip(), add_special_tokens=False)["input_ids"][0] for w in words)
        if len(set(ids)) < len(ids):
            raise ValueError(f"label words {list(words)} share a first token; give words that start differently")
        return cls(tuple(tokenizer(suffix, add_special_tokens=False)["input_ids"]), ids)


def whitelist(tokenizer, max_chars: int = 17) -> np.ndarray:
    """Ids of the tokens the projection may choose (generate.py 214-232): no special character, at most
    ``max_chars`` characters, and a word once lower-cased and stripped of edge punctuation (no digits, no
    punctuation-only tokens). Special tokens fail the test by their brackets."""
    keep = []
    for i in range(len(tokenizer)):
        text = tokenizer.decode([i])
        if len(text) > max_chars or any(ch in FORBIDDEN for ch in text):
            continue
        if WORD.fullmatch(re.sub(r"^\W+|\W+$", "", text.lower().strip())):
            keep.append(i)
    if not keep:
        raise ValueError("no token of the vocabulary passes the whitelist")
    return np.asarray(keep, dtype=np.int64)


def typical_norm(model, allowed: np.ndarray) -> float:
    """The median norm of the allowed tokens' input embeddings: the scale initial vectors are rescaled to (the
    release's 1.4 is BERT's, inherited from LAMP)."""
    weight = model.get_input_embeddings().weight
    return float(weight[torch.as_tensor(allowed, device=weight.device)].norm(dim=-1).median())


def encode_texts(tokenizer, texts, suffix_ids) -> list[list[int]]:
    """Each text's ids followed by the suffix's (special tokens left out, as the release tokenises)."""
    return [tokenizer(t, add_special_tokens=False)["input_ids"] + list(suffix_ids) for t in texts]


def padded(rows: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, their attention mask and each row's last index (padding never reaches a real token)."""
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.as_tensor(r)
        mask[i, :len(r)] = 1
    return ids.to(device), mask.to(device), torch.as_tensor([len(r) - 1 for r in rows], device=device)


@torch.no_grad()
def features(model, rows: list[list[int]], label: int, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, H) of the given token rows for class token ``label``: residuals and last hidden states."""
    device = model.get_input_embeddings().weight.device
    a_parts, h_parts = [], []
    for start in range(0, len(rows), batch_size):
        ids, mask, last = padded(rows[start:start + batch_size], device)
        h = last_hidden(model, model.get_input_embeddings()(ids), last, mask).float()
        a_parts.append(residuals(model, h, label))
        h_parts.append(h)
    return torch.cat(a_parts), torch.cat(h_parts)


@torch.no_grad()
def class_target(model, rows: list[list[int]], label: int, batch_size: int = 16) -> HeadTarget:
    """The mean head gradient of the rows (one class's real examples + suffix), accumulated batch by batch so only
    one V x d matrix is ever held."""
    weight, bias = head(model)
    total_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
    total_b = None if bias is None else torch.zeros(bias.shape, dtype=torch.float32, device=weight.device)
    for start in range(0, len(rows), batch_size):
        a, h = features(model, rows[start:start + batch_size], label, batch_size)
        total_w += a.T @ h
        if total_b is not None:
            total_b += a.sum(0)
    n = len(rows)
    return HeadTarget(total_w / n, None if total_b is None else total_b / n, n)


@torch.no_grad()
def mean_nll(model, rows: list[list[int]], batch_size: int = 16) -> np.ndarray:
    """Each row's mean next-token NLL under the LM (the release's "perplexity", a loss, not its exponential)."""
    device = model.get_input_embeddings().weight.device
    out = []
    for start in range(0, len(rows), batch_size):
        ids, mask, _ = padded(rows[start:start + batch_size], device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        m = mask[:, 1:].float()
        out.append(((nll * m).sum(1) / m.sum(1).clamp_min(1)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
