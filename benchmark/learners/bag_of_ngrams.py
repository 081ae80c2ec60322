"""bow-ngrams: a fastText-style classifier trained from scratch (no pretraining): the mean of word-piece
and hashed bigram embeddings, then a linear layer. Seconds on a CPU, so cross-architecture tables stay
cheap; tokenised with the MiniLM WordPiece tokenizer (offline)."""
from __future__ import annotations

import numpy as np

from benchmark.core.assets import minilm_path
from benchmark.learners import LEARNERS
from benchmark.learners.base import CLASS_WEIGHTS, Learner, batch_indices, class_weights
from benchmark.tasks.base import Examples


@LEARNERS.register("bow-ngrams")
class BagOfNgrams(Learner):
    """fastText-style bag of word pieces + hashed bigrams, trained from scratch (seconds on a CPU)."""

    family = "from-scratch"
    uses_gpu = False  # trains on the CPU
    TEST_PARAMS = {"steps": 30}
    PARAM_RANGES = {"dim": "x >= 1", "buckets": "x >= 1", "steps": "x >= 1", "batch_size": "x >= 1", "lr": "x > 0",
                    "weight_decay": "x >= 0", "max_length": "x >= 1", "class_weight": CLASS_WEIGHTS}

    def __init__(self, dim: int = 64, buckets: int = 2**18, steps: int = 200, batch_size: int = 64,
                 lr: float = 0.05, weight_decay: float = 0.0, max_length: int = 128, class_weight: str = "auto"):
        self.dim = dim
        self.buckets = buckets
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.class_weight = class_weight  # "balanced": classes weighted by n / (k x count); "auto": for_task decides

    def _features(self, texts) -> list[list[int]]:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(minilm_path())
        vocab = tokenizer.vocab_size
        out = []
        for text in texts:
            ids = tokenizer(" [SEP] ".join(text), add_special_tokens=False, truncation=True,
                            max_length=self.max_length)["input_ids"]
            bigrams = [vocab + (a * 1_000_003 + b) % self.buckets for a, b in zip(ids, ids[1:])]
            out.append(ids + bigrams or [0])
        return out

    def _bags(self, features: list[list[int]], indices):
        import torch

        chosen = [features[i] for i in indices]
        offsets = torch.tensor([0] + [len(f) for f in chosen[:-1]]).cumsum(0)
        return torch.tensor([t for f in chosen for t in f]), offsets

    def fit_predict(self, train: Examples, test: Examples, num_labels: int, seed: int) -> np.ndarray:
        import torch

        torch.manual_seed(seed)
        vocab = 30522 + self.buckets
        embed = torch.nn.EmbeddingBag(vocab, self.dim, mode="mean", sparse=True)  # sparse: only seen rows update
        head = torch.nn.Linear(self.dim, num_labels)
        optimizers = [torch.optim.SparseAdam(embed.parameters(), lr=self.lr),
                      torch.optim.Adam(head.parameters(), lr=self.lr, weight_decay=self.weight_decay)]
        features, labels = self._features(train.texts), torch.as_tensor(train.labels)
        weights = class_weights(train.labels, num_labels, self.class_weight)
        weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        for idx in batch_indices(len(features), self.batch_size, self.steps, seed):
            tokens, offsets = self._bags(features, idx)
            loss = torch.nn.functional.cross_entropy(head(embed(tokens, offsets)), labels[idx], weight=weights)
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
        test_features = self._features(test.texts)
        with torch.inference_mode():
            tokens, offsets = self._bags(test_features, range(len(test_features)))
            return head(embed(tokens, offsets)).argmax(-1).numpy()
