"""One GRADMM call: ``gen_bs`` sequences of one class optimised jointly by ADMM (generate.py 355-557).

x: continuous input embeddings of the free positions (the suffix is appended, fixed); z: the projection of
x + lambda/rho onto real tokens (``Projector``); x-step: Adam on matching loss + (rho/2)||x - z + lambda/rho||^2 with
the x-gradient norm clipped; dual: lambda += rho (x - z). The best x by that loss (the release's rule) is decoded at
the end. A run can be checkpointed between ADMM iterations and resumed exactly (its tensors + Adam's moments).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dilm.gradmm.head_gradient import HeadTarget, distance, last_hidden, residuals


class Matcher:
    """The matching loss of a batch of embeddings for one class: the distance of its mean head gradient to the
    class target."""

    def __init__(self, model, suffix_ids, label_id: int, target: HeadTarget):
        embed = model.get_input_embeddings()
        self.model = model
        self.suffix = embed(torch.as_tensor(list(suffix_ids), dtype=torch.long, device=embed.weight.device)).detach()
        self.label_id = int(label_id)
        self.target = target

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        full = torch.cat([x, self.suffix.unsqueeze(0).expand(len(x), -1, -1)], dim=1)
        h = last_hidden(self.model, full)
        return distance(residuals(self.model, h, self.label_id), h, self.target)


def initial_batch(matcher: Matcher, shape: tuple, candidates: int, norm: float, generator: torch.Generator):
    """Best of ``candidates`` random-normal batches by matching loss, each token vector rescaled to ``norm`` (scored
    after rescaling, so the batch kept is the batch used; the release scores before: init.py 50-113)."""
    device = matcher.suffix.device
    best, best_loss = None, None
    with torch.no_grad():
        for _ in range(candidates):
            x = torch.randn(shape, generator=generator).to(device)
            x = x / x.norm(dim=-1, keepdim=True) * norm
            loss = float(matcher.loss(x))
            if best_loss is None or loss < best_loss:
                best, best_loss = x, loss
    return best, best_loss


@dataclass
class AdmmState:
    """Everything an interrupted call needs to continue: the iterates, Adam's moments, the best x and the history."""

    x: torch.Tensor
    lam: torch.Tensor
    best_x: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    adam_step: int = 0
    iteration: int = 0
    best_loss: float | None = None
    init_loss: float | None = None
    elapsed: float = 0.0  # seconds spent on this call before the last resume
    history: list = field(default_factory=list)  # per iteration: matching loss, total, ||x - z|| / ||x||

    TENSORS = ("x", "lam", "best_x", "exp_avg", "exp_avg_sq")

    def tensors(self) -> dict:
        return {name: getattr(self, name).detach().cpu().contiguous() for name in self.TENSORS}

    def meta(self) -> dict:
        return {"adam_step": self.adam_step, "iteration": self.iteration, "best_loss": self.best_loss,
                "init_loss": self.init_loss, "elapsed": self.elapsed, "history": self.history}

    @classmethod
    def restore(cls, tensors: dict, meta: dict, device) -> "AdmmState":
        return cls(**{name: tensors[name].to(device) for name in cls.TENSORS}, **meta)

    @classmethod
    def start(cls, x: torch.Tensor, init_loss: float) -> "AdmmState":
        zeros = torch.zeros_like(x)
        return cls(x.clone(), zeros.clone(), x.clone(), zeros.clone(), zeros.clone(), init_loss=init_loss)


def run_admm(matcher: Matcher, projector, state: AdmmState, outer: int, inner: int, lr: float, rho: float,
             grad_clip: float, on_iteration=None) -> AdmmState:
    """ADMM iterations from ``state.iteration`` to ``outer``; ``on_iteration(state)`` after each (checkpoints)."""
    embed = matcher.model.get_input_embeddings()
    x = state.x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    opt.state[x] = {"step": torch.tensor(float(state.adam_step)), "exp_avg": state.exp_avg.clone(),
                    "exp_avg_sq": state.exp_avg_sq.clone()}
    lam = state.lam.clone()
    while state.iteration < outer:
        with torch.no_grad():
            z = embed(projector(x.detach() + lam / rho)).float()
        for _ in range(inner):
            opt.zero_grad()
            match = matcher.loss(x)
            total = match + (rho / 2) * (x - z + lam / rho).square().sum()
            total.backward()
            with torch.no_grad():
                norm = x.grad.norm()
                if norm > grad_clip:
                    x.grad.mul_(grad_clip / (norm + 1e-6))
            opt.step()
        with torch.no_grad():
            lam += rho * (x.detach() - z)
            moved = float((x.detach() - z).norm() / x.detach().norm().clamp_min(1e-12))
        error = float(total.detach())
        if state.best_loss is None or error <= state.best_loss:  # generate.py 679: the last inner step's total
            state.best_loss, state.best_x = error, x.detach().clone()
        adam = opt.state[x]
        state.x, state.lam = x.detach().clone(), lam.clone()
        state.exp_avg, state.exp_avg_sq = adam["exp_avg"].clone(), adam["exp_avg_sq"].clone()
        state.adam_step = int(adam["step"])
        state.iteration += 1
        state.history.append({"matching": round(float(match.detach()), 6), "total": round(error, 6), "moved": round(moved, 6)})
        if on_iteration is not None:
            on_iteration(state)
    return state
