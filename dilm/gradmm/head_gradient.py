"""The LM head's gradient of the verbaliser loss, in closed form, and its cosine distance to a target.

For a sequence whose last hidden state is h and whose next-token distribution is p = softmax(W h + b), the
cross-entropy against the label token y has dL/dW = (p - e_y) h^T and dL/db = p - e_y. A batch's mean gradient
is (1/n) A^T H with A = P - E (n x V) and H (n x d): its inner product with a target T is (1/n) sum_i a_i . T h_i and
its squared norm (1/n^2) sum_ij (a_i . a_j)(h_i . h_j), so the V x d gradient of the batch is never formed. This is
exact, and the only correct way when the head is tied to the input embeddings (SmolLM2): autograd on the tied matrix
would add the input path's gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class HeadTarget:
    """A class's mean head gradient over real examples: ``weight`` (V x d) and ``bias`` (V, or None for a bias-free
    head); ``count``: how many examples it averages."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    count: int

    def to(self, device) -> "HeadTarget":
        return HeadTarget(self.weight.to(device), None if self.bias is None else self.bias.to(device), self.count)


def head(model) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The output layer's weight (V x d) and bias (None when it has none); rows past the tokenizer are kept."""
    out = model.get_output_embeddings()
    return out.weight, getattr(out, "bias", None)


def last_hidden(model, inputs_embeds: torch.Tensor, last: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The final (normed) hidden state at each row's last position (``last``: its index, for right-padded rows)."""
    states = model.base_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
    if last is None:
        return states[:, -1]
    return states[torch.arange(len(states), device=states.device), last]


def residuals(model, hidden: torch.Tensor, label: int) -> torch.Tensor:
    """A = softmax(W h + b) - e_y for each row of ``hidden`` (n x d) -> (n x V)."""
    weight, bias = head(model)
    logits = hidden @ weight.T
    if bias is not None:
        logits = logits + bias
    probs = torch.softmax(logits.float(), dim=-1)
    return probs - torch.nn.functional.one_hot(torch.full((len(probs),), label, device=probs.device),
                                               probs.shape[-1]).float()


def dense_gradient(a: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch-mean head gradient as matrices: ((1/n) A^T H, mean of A). For targets and tests (V x d is large)."""
    return a.T @ h.float() / len(a), a.mean(0)


def distance(a: torch.Tensor, h: torch.Tensor, target: HeadTarget) -> torch.Tensor:
    """1 - cosine similarity between the batch-mean head gradient of (a, h) and the target, averaged over the head's
    tensors (weight, and bias where the head has one), as the release's ``grad_dist`` does. Differentiable."""
    h = h.float()
    inner = (a * (h @ target.weight.T)).sum() / len(a)
    norm = torch.sqrt(((a @ a.T) * (h @ h.T)).sum().clamp_min(1e-30)) / len(a)
    terms = [1.0 - inner / (norm * target.weight.norm() + 1e-30)]
    if target.bias is not None:
        mean = a.mean(0)
        terms.append(1.0 - (mean @ target.bias) / (mean.norm() * target.bias.norm() + 1e-30))
    return torch.stack(terms).mean()


def per_example_terms(a: torch.Tensor, h: torch.Tensor, target: HeadTarget) -> dict[str, torch.Tensor]:
    """What scores any subset of these examples without the model: s_i = a_i . T h_i, the Gram matrices of the a_i
    and the h_i, a_i . t_b, and the target's norms (``subset_distance``)."""
    h = h.float()
    terms = {"s": (a * (h @ target.weight.T)).sum(1), "gram_a": a @ a.T, "gram_h": h @ h.T,
             "target_norm": target.weight.norm().reshape(1)}
    if target.bias is not None:
        terms["s_bias"] = a @ target.bias
        terms["bias_norm"] = target.bias.norm().reshape(1)
    return terms


def subset_distance(terms: dict, members) -> float:
    """``distance`` of the examples ``members`` (indices) from their ``per_example_terms``: the cosine is scale-free,
    so the mean's 1/n cancels."""
    import numpy as np

    idx = np.asarray(members, dtype=np.int64)
    gram = np.asarray(terms["gram_a"])[np.ix_(idx, idx)]
    inner = float(np.asarray(terms["s"])[idx].sum())
    norm = float(np.sqrt(max((gram * np.asarray(terms["gram_h"])[np.ix_(idx, idx)]).sum(), 1e-30)))
    out = [1.0 - inner / (norm * float(np.asarray(terms["target_norm"])[0]) + 1e-30)]
    if "s_bias" in terms:
        bias_norm = float(np.sqrt(max(gram.sum(), 1e-30)))
        out.append(1.0 - float(np.asarray(terms["s_bias"])[idx].sum()) / (bias_norm * float(np.asarray(terms["bias_norm"])[0]) + 1e-30))
    return float(np.mean(out))
