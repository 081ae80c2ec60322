"""An embedding-level distilled set: input-embedding tensors in one model's space plus the recipe they need.

Saved as safetensors (the tensors, bit-exact) beside a JSON file (the recipe: embedding space, learned
per-step learning rates, order, label type; and the provenance). Such a set trains only a learner of the
same embedding space (``space``); ``train(model)`` applies its recipe to a fresh model of that space.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

KIND = "embedding"


@dataclass
class EmbeddingSet:
    """inputs_embeds (N x L x H), attention_mask (N x L), targets (N x C label distributions or free vectors),
    lrs (T x 2) per-step learning rates (encoder, classifier head), optional attention labels (layers x N x heads
    x L x L, as logits)."""

    tensors: dict
    recipe: dict
    label_names: tuple[str, ...]
    provenance: dict = field(default_factory=dict)

    TENSORS: ClassVar[str] = "distilled.safetensors"
    META: ClassVar[str] = "distilled.json"
    kind: ClassVar[str] = KIND

    @property
    def space(self) -> str:
        return self.recipe["space"]

    @property
    def labels(self) -> np.ndarray:
        """The class each example was initialised from (what per-class counts refer to)."""
        return self.tensors["classes"].numpy()

    def __len__(self) -> int:
        return int(self.tensors["inputs_embeds"].shape[0])

    def checksum(self) -> str:
        """sha256 over the tensors' names, shapes, dtypes and bytes (bit-exact identity of the set)."""
        import hashlib

        digest = hashlib.sha256()
        for name in sorted(self.tensors):
            tensor = self.tensors[name].detach().cpu().contiguous()
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()

    def per_class(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.tensors.items()}, str(directory / self.TENSORS))
        meta = {"kind": KIND, "label_names": list(self.label_names), "n_examples": len(self),
                "per_class": self.per_class(), "recipe": self.recipe, "provenance": self.provenance}
        (directory / self.META).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "EmbeddingSet":
        from safetensors.torch import load_file

        meta = json.loads((directory / cls.META).read_text(encoding="utf-8"))
        return cls(load_file(str(directory / cls.TENSORS)), meta["recipe"], tuple(meta["label_names"]),
                   meta["provenance"])

    def check_space(self, space: str, learner: str) -> None:
        if space != self.space:
            raise ValueError(f"learner {learner!r} embeds text with {space!r}, but this embedding-level set lives in "
                             f"the input-embedding space of {self.space!r}: it can only train a {self.space!r} model "
                             f"(its text projection, tdd-text, trains any learner)")

    def train(self, model) -> None:
        """The set's recipe on ``model`` (a fresh classifier of its space): T plain SGD steps on the whole set,
        step t with the learned rates lrs[t] (encoder, head), dropout off; the loss the set was distilled with."""
        import torch

        model.eval()
        device = next(model.parameters()).device
        tensors = {k: v.to(device) for k, v in self.tensors.items()}
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        for encoder_lr, head_lr in self.tensors["lrs"].tolist():
            loss = inner_loss(model, tensors, self.recipe, params=None)
            grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)  # word embeddings: unused
            with torch.no_grad():
                for (name, p), g in zip(named, grads):
                    if g is not None:
                        p.sub_((head_lr if name.startswith(self.recipe["head_prefix"]) else encoder_lr) * g)


def inner_loss(model, tensors: dict, recipe: dict, params: dict | None):
    """The distilled data's training loss under ``params`` (None: the model's own): cross-entropy to the
    targets (one-hot, a learned distribution, or free vectors) + attention-label KL when the set has them."""
    import torch
    from torch.func import functional_call

    kwargs = {"inputs_embeds": tensors["inputs_embeds"], "attention_mask": tensors["attention_mask"],
              "output_attentions": "attention_labels" in tensors}
    out = functional_call(model, params, (), kwargs) if params is not None else model(**kwargs)
    loss = -(tensors["targets"] * torch.log_softmax(out.logits, -1)).sum(-1).mean()
    if "attention_labels" in tensors:
        wanted = torch.softmax(tensors["attention_labels"], -1)  # layers x N x heads x L x L
        got = torch.stack(out.attentions)
        kl = (wanted * (torch.log(wanted + 1e-12) - torch.log(got + 1e-12))).sum(-1).mean()
        loss = loss + recipe.get("attention_weight", 1.0) * kl
    return loss
