"""Making a set from a GRADMM pool (filtering.py): the label-consistency filter (the LM's own few-shot guess),
then DPC texts per class by the top-score rule (own gradient distance + weight x NLL, ascending) or the set-level
greedy rule (add the text that brings the running mean gradient closest to the class target). The seed first draws
a random half of the filtered candidates, so sets of one pool differ (an adaptation: the release keeps one set)."""
from __future__ import annotations

import numpy as np
import torch

from dilm.gradmm.head_gradient import subset_distance
from dilm.selection import label_consistent


def few_shot_prompt(words, shots) -> str:
    """filtering.py 158-182 with the task's label words and train examples as demonstrations."""
    head = f"Given the following text. Only output {' or '.join(words)}.\n"
    return head + "".join(f"Input: {text}\nLabel: {words[label]}\n\n" for text, label in shots)


@torch.no_grad()
def few_shot_probabilities(model, tokenizer, texts, words, shots, batch_size: int = 8) -> np.ndarray:
    """(n, C): each text's class probabilities from the LM's next token after the few-shot prompt, over the first
    tokens of " word" (the release multiplies a word's token probabilities; the first token decides for one-token
    words), normalised over the classes."""
    prompt = few_shot_prompt(words, shots)
    first = torch.as_tensor([tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in words])
    device = model.get_input_embeddings().weight.device
    out = []
    for start in range(0, len(texts), batch_size):
        rows = [tokenizer(f"{prompt}Input: {t}\nLabel:")["input_ids"] for t in texts[start:start + batch_size]]
        width = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.as_tensor(r)  # left-padded: the last position is every row's own
            mask[i, width - len(r):] = 1
        position = (mask.cumsum(1) - 1).clamp_min(0)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       position_ids=position.to(device)).logits[:, -1].float()
        out.append(torch.softmax(logits[:, first.to(device)], dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(words)))


def first_of_each_text(texts) -> np.ndarray:
    """Indices of the first occurrence of each distinct text (filtering.py 349 drops duplicates)."""
    seen, keep = set(), []
    for i, t in enumerate(texts):
        if t not in seen:
            seen.add(t)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def candidates_for(probabilities: np.ndarray | None, texts, label: int, dpc: int, seed: int) -> np.ndarray:
    """The pool indices a set of class ``label`` is chosen from: distinct texts the filter keeps (at least ``dpc``:
    the most probable for the class when fewer pass), then a random half of them by (seed, class), at least ``dpc``."""
    distinct = first_of_each_text(texts)
    if len(distinct) < dpc:
        distinct = np.arange(len(texts))
    if probabilities is not None:
        distinct = distinct[label_consistent(probabilities[distinct], label, dpc)]
    size = max(dpc, -(-len(distinct) // 2))
    return np.sort(np.random.default_rng([seed, label]).choice(distinct, size, replace=False))


def top_score(indices: np.ndarray, distance, nll, weight: float, dpc: int) -> np.ndarray:
    """The ``dpc`` candidates with the lowest distance + weight x NLL (ties: pool order)."""
    score = np.asarray(distance)[indices] + weight * np.asarray(nll)[indices]
    return indices[np.argsort(score, kind="stable")[:dpc]]


def greedy(indices: np.ndarray, terms: dict, dpc: int) -> np.ndarray:
    """Forward greedy on the set's mean gradient (filtering.py 692-738, without its USM pruning, which can return
    fewer than asked): each step adds the candidate whose addition leaves the mean closest to the target."""
    chosen: list[int] = []
    left = list(indices.tolist())
    for _ in range(dpc):
        scores = [subset_distance(terms, chosen + [i]) for i in left]
        pick = left[int(np.argmin(scores))]
        chosen.append(pick)
        left.remove(pick)
    return np.asarray(chosen, dtype=np.int64)
