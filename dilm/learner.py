"""Stage 2's learner: a pretrained encoder classifier whose head gradients the generator must match.

Dropout stays off (eval mode) as in the original code, so the closed-form head gradient is exact. The
pretrained weights are deep-copied once; ``reset(seed)`` restores them and draws a fresh head. Its forward passes
run in ``precision`` (``dilm/precision.py``: bf16 autocast on fp32 weights, as the authors' stage 2 ran); what
leaves them (head inputs, logits, [CLS] states, the loss) is fp32.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from dilm.lm_training import lr_schedule, param_groups
from dilm.precision import autocast, resolve


class MatchingLearner:
    """Wraps an ``AutoModelForSequenceClassification``: head inputs/logits, [CLS] states, real-data steps."""

    def __init__(self, model, tokenizer, max_length: int = 64, precision: str = "fp32"):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.precision = resolve(precision, self.device)  # fp32 or bf16: what ran, for the stage-2 report
        self.head = final_linear(model, model.config.num_labels)
        self._snapshot = copy.deepcopy({k: v.detach().clone() for k, v in model.state_dict().items()})
        self._captured: list = []
        self.head.register_forward_hook(lambda module, args, output: self._captured.append((args[0], output)))
        self.optimizer = self.scheduler = None

    @classmethod
    def from_pretrained(cls, path: str, num_labels: int, device: str = "cpu", max_length: int = 64,
                        precision: str = "fp32"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels, use_kernels=False)
        model.to(device)
        return cls(model, tokenizer, max_length, precision)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def reset(self, seed: int, lr: float, schedule: str = "constant", warmup_ratio: float = 0.0,
              total_steps: int = 1) -> None:
        """Back to the pretrained weights (from the deep copy), a fresh seeded head, a fresh AdamW (and learning-rate
        schedule over ``total_steps``: the paper reuses its evaluation recipe's cosine with 50% warmup)."""

        self.model.load_state_dict(self._snapshot)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        std = getattr(self.model.config, "initializer_range", 0.02)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=gen) * std)
            if self.head.bias is not None:
                self.head.bias.zero_()
        self.optimizer = torch.optim.AdamW(param_groups(self.model, 0.01), lr=lr)
        self.scheduler = lr_schedule(self.optimizer, schedule, warmup_ratio, total_steps)

    def _inputs(self, texts):
        return self.tokenizer(*zip(*texts), truncation=True, max_length=self.max_length, padding=True,
                              return_tensors="pt").to(self.device)

    def head_inputs(self, texts):
        """(h, logits, cls): the classifier's input, its output and the last layer's [CLS] state, no grad."""
        self._captured.clear()
        with torch.no_grad(), autocast(self.precision, self.device):
            out = self.model(**self._inputs(texts), output_hidden_states=True)
        h, logits = self._captured[-1]
        self._captured.clear()
        if h.dim() != 2:
            raise ValueError(f"{type(self.model).__name__} applies its classifier per token; DiLM's stage-2 learner must "
                             f"be an encoder classifier with a pooled head (BERT, RoBERTa, MiniLM)")
        return h.float(), logits.float(), out.hidden_states[-1][:, 0].float()

    def cls_states(self, texts, batch_size: int = 128) -> np.ndarray:
        """The [CLS] states of ``texts`` (a stage-2 pool), in batches of similar lengths: each batch is padded to its
        longest, so texts sorted by length first pad far less than the pool's order (one batch stays as it is)."""
        if len(texts) <= batch_size:
            return self.head_inputs(texts)[2].cpu().numpy()
        lengths = [len(ids) for ids in self.tokenizer(*zip(*texts), truncation=True,
                                                      max_length=self.max_length)["input_ids"]]
        order = np.argsort(lengths, kind="stable")
        states = [self.head_inputs([texts[i] for i in order[start:start + batch_size]])[2].cpu().numpy()
                  for start in range(0, len(texts), batch_size)]
        out = np.empty((len(texts), states[0].shape[1]), dtype=states[0].dtype)
        out[order] = np.concatenate(states)
        return out

    def train_step(self, texts, labels) -> float:
        """One AdamW step (clip 1.0) on a real batch; dropout stays off."""
        with autocast(self.precision, self.device):
            out = self.model(**self._inputs(texts), labels=torch.as_tensor(labels, device=self.device))
        self._captured.clear()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return out.loss.item()

    def full_gradient(self, texts, label: int, weights, create_graph: bool):
        """Flat gradient of sum_i w_i CE_i over all learner parameters (autograd; for classifier_only=False)."""
        with autocast(self.precision, self.device):
            logits = self.model(**self._inputs(texts)).logits.float()
        self._captured.clear()
        targets = torch.full((len(texts),), label, device=self.device)
        ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        params = [p for p in self.model.parameters() if p.requires_grad]
        grads = torch.autograd.grad((weights * ce).sum(), params, create_graph=create_graph)
        return torch.cat([g.reshape(-1) for g in grads])


def final_linear(model, num_labels: int):
    """The last ``nn.Linear`` with ``num_labels`` outputs: the classifier whose gradient DiLM matches."""
    candidates = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not candidates:
        raise ValueError(f"{type(model).__name__} has no linear layer with {num_labels} outputs to match")
    return candidates[-1]
