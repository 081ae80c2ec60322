"""GRADMM's z-step: embeddings -> real tokens. At each position the ``topk`` whitelisted tokens nearest by cosine
are offered to the LM, which picks the one it ranks highest after an instruction prefix and the tokens chosen so far
(LM-greedy decoding restricted to the nearest tokens). The prefix is run once and each position adds one token to a
KV cache (the release re-runs the whole prefix per position: utilities.py 346-444). No sampling: deterministic."""
from __future__ import annotations

import copy
import inspect

import numpy as np
import torch


class Projector:
    """Nearest-token LM-greedy projection over a fixed whitelist, for one class's decoding prefix."""

    def __init__(self, model, allowed: np.ndarray, prefix_ids: list[int], topk: int):
        weight = model.get_input_embeddings().weight.detach()
        self.model = model
        self.allowed = torch.as_tensor(allowed, device=weight.device)
        vectors = weight[self.allowed].float()
        self.unit = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        self.topk = min(int(topk), len(allowed))
        # transformers 5.24 renamed the forward's past_key_values to cache: pass it under the name this version takes
        self.cache_kwarg = ("cache" if "cache" in inspect.signature(model.base_model.forward).parameters
                            else "past_key_values")
        with torch.no_grad():  # the prefix is run once per projector, for one row; each call copies its cache
            self.prefix_cache, self.prefix_logits = self.step(
                torch.as_tensor(prefix_ids, device=weight.device).unsqueeze(0), None)

    def step(self, ids: torch.Tensor, cache):
        """Feed ``ids`` after ``cache``: (the grown cache, next-token logits at the last position)."""
        out = self.model.base_model(input_ids=ids, use_cache=True, **{self.cache_kwarg: cache})
        return out.past_key_values, self.model.get_output_embeddings()(out.last_hidden_state[:, -1])

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """(n, L, k) ids of the k whitelisted tokens nearest each position of ``x`` by cosine similarity."""
        unit = x.float() / x.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return self.allowed[(unit @ self.unit.T).topk(self.topk, dim=-1).indices]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(n, L) token ids for embeddings ``x`` (n, L, d)."""
        near = self.nearest(x.detach())
        n, length = near.shape[:2]
        cache = copy.deepcopy(self.prefix_cache)
        cache.batch_repeat_interleave(n)
        logits = self.prefix_logits.expand(n, -1)
        chosen = []
        for t in range(length):
            options = near[:, t]
            pick = options.gather(1, logits.gather(1, options).argmax(1, keepdim=True))
            chosen.append(pick)
            if t + 1 < length:
                cache, logits = self.step(pick, cache)
        return torch.cat(chosen, dim=1)
