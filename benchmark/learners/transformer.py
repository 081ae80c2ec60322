"""Fine-tuned transformer classifiers: a pretrained encoder + a fresh classification head.

The default recipe is the DiLM paper's evaluation recipe: 200 steps, batch min(64, |D|), AdamW lr 1e-4,
weight decay 0.01 (none on bias/LayerNorm), cosine schedule with 50% warmup, grad clip 1.0, dropout on.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from benchmark.core.assets import OFFLINE_MODELS, pick_device, resolve_model
from benchmark.core.classifiers import load_classifier, load_tokenizer, pretrained_classifier
from benchmark.core.errors import MissingAssetError
from benchmark.learners import LEARNERS
from benchmark.learners.base import (CLASS_WEIGHTS, PRECISIONS, Learner, batch_indices, cast_floats, class_weights,
                                     compute_dtype, resolve_precision)
from benchmark.learners.checkpoints import TrainingCheckpoints
from benchmark.core.tokenization import length_sorted_batches, tokenize
from benchmark.tasks.base import Examples


class TransformerClassifier(Learner):
    """Any ``AutoModelForSequenceClassification`` checkpoint fine-tuned with the paper's recipe."""

    TEST_PARAMS = {"steps": 3}
    MODEL_PARAMS = ("model",)
    REHEARSAL_PARAMS = {"steps": 2}
    accepts = ("text", "embedding")
    PARAM_RANGES = {"steps": "x >= 1", "batch_size": "x >= 1", "lr": "x > 0", "weight_decay": "x >= 0",
                    "warmup_ratio": "0 <= x <= 1", "max_grad_norm": "x > 0", "max_length": "x >= 1",
                    "eval_batch_size": "x >= 1", "class_weight": CLASS_WEIGHTS, "precision": PRECISIONS}

    def __init__(self, model: str, steps: int = 200, batch_size: int = 64, lr: float = 1e-4,
                 weight_decay: float = 0.01, warmup_ratio: float = 0.5, max_grad_norm: float = 1.0,
                 max_length: int = 64, eval_batch_size: int = 256, device: str = "auto", class_weight: str = "auto",
                 precision: str = "fp32"):
        self.model = model
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.max_length = max_length
        self.eval_batch_size = eval_batch_size
        self.device = device
        self.class_weight = class_weight  # "balanced": the loss weighs classes by n / (k x count); "auto": for_task decides
        self.precision = precision  # "bf16"/"auto": steps on bfloat16 copies of the weights (``resolve_precision``)

    def fit_predict(self, train: Examples, test: Examples, num_labels: int, seed: int) -> np.ndarray:
        device = pick_device(self.device)
        path = resolve_model(self.model)
        with self._loading():
            tokenizer = load_tokenizer(path)
            model = pretrained_classifier(path, num_labels, seed, tokenizer.pad_token_id)
        model.to(device)
        self._train(model, tokenizer, train, seed, device)
        return self._recorded(self._predict(model, tokenizer, test, device), device)

    stackable = True

    def fit_predict_many(self, trains: list[Examples], test: Examples, num_labels: int,
                         seeds: list[int]) -> list[np.ndarray]:
        """The runs trained together (``stacked.fit_predict_stacked``) when the architecture can be packed, in
        chunks that fit this machine's memory; else one after the other."""
        from benchmark.learners import stacked

        path = resolve_model(self.model)
        with self._loading():
            config = _config(path)
        if not stacked.supports(config):
            return super().fit_predict_many(trains, test, num_labels, seeds)
        with self._loading():
            tokenizer = load_tokenizer(path)
        lengths = [len(f["input_ids"]) for train in trains for f in tokenize(tokenizer, train.texts, self.max_length)]
        width = self.stack_width(len(trains), max(map(len, trains)), lengths)
        device = pick_device(self.device)
        return [self._recorded(p, device) for i in range(0, len(trains), width) for p in stacked.fit_predict_stacked(
            self, path, trains[i:i + width], test, num_labels, seeds[i:i + width], device)]

    def stack_width(self, cap: int, train_size: int, lengths: list[int] | None = None) -> int:
        """As many runs as fit in three quarters of the free memory of the device (CPU RAM or GPU), at most ``cap``;
        a step's rows from the sets' token ``lengths`` when given (``stacked.width_for``)."""
        from benchmark.learners import stacked

        with self._loading():
            config = _config(resolve_model(self.model))
        if not stacked.supports(config):
            return 1
        return stacked.width_for(config, min(self.batch_size, train_size), self.max_length, pick_device(self.device),
                                 cap, lengths)

    @contextmanager
    def _loading(self):
        """Turn a checkpoint that cannot be loaded into an error naming the model and the offline learners."""
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            yield
        except OSError as exc:
            raise MissingAssetError(f"cannot load model {self.model!r}: {str(exc).splitlines()[0][:200]}. Hub models "
                                    f"need the Hugging Face hub or a filled HF cache; offline learners: "
                                    f"{', '.join(offline_learner_names())}.") from None

    @property
    def embedding_space(self) -> str:
        """Its checkpoint: an embedding-level set trains it only when distilled in the same model's space."""
        return self.model

    def fit_predict_embedded(self, artifact, test: Examples, num_labels: int, seed: int) -> np.ndarray:
        """A fresh model (pretrained + head drawn from ``seed``) trained by the set's own recipe (its learned
        per-step rates), not this learner's; then scored like any run."""
        artifact.check_space(self.embedding_space, self.model)
        device = pick_device(self.device)
        tokenizer, model = load_classifier(self.model, num_labels, device, seed)
        artifact.train(model)
        return self._recorded(self._predict(model, tokenizer, test, device), device)

    def _recorded(self, predictions: np.ndarray, device: str):
        """With ``precision: auto``, the predictions and the precision it resolved to here (for the run's record)."""
        if self.precision != "auto":
            return predictions
        return predictions, {"precision": resolve_precision(self.precision, device)}

    def _encode(self, tokenizer, texts) -> list[dict]:
        return tokenize(tokenizer, texts, self.max_length)

    def _train(self, model, tokenizer, train: Examples, seed: int, device: str) -> None:
        import torch
        from transformers import get_cosine_schedule_with_warmup

        features = self._encode(tokenizer, train.texts)
        labels = torch.as_tensor(train.labels, dtype=torch.long)
        weights = class_weights(train.labels, model.config.num_labels, self.class_weight)
        weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
        optimizer = torch.optim.AdamW(_param_groups(model, self.weight_decay), lr=self.lr,
                                      **({"fused": True} if device == "cpu" else {}))
        scheduler = get_cosine_schedule_with_warmup(optimizer, int(self.warmup_ratio * self.steps), self.steps)
        dtype = compute_dtype(self.precision, device)
        checkpoints = TrainingCheckpoints({"recipe": self.get_params(), "num_labels": model.config.num_labels,
                                           "seed": seed, "set": train.checksum()})

        def state() -> dict:
            return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict()}

        if (saved := checkpoints.resume(device, optimizer, scheduler)) is not None:
            model.load_state_dict(saved["model"])
        model.train()
        steps = batch_indices(len(features), self.batch_size, self.steps, seed)
        for step, idx in checkpoints.steps(steps, self.steps, "train"):
            inputs = tokenizer.pad([features[i] for i in idx], return_tensors="pt").to(device)
            logits = _forward(model, inputs, dtype)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels[idx].to(device), weight=weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            checkpoints.save_if_due(step + 1, state)
        checkpoints.save_last(self.steps, state)

    def _predict(self, model, tokenizer, test: Examples, device: str) -> np.ndarray:
        import torch

        features = self._encode(tokenizer, test.texts)
        predictions = np.empty(len(features), dtype=np.int64)
        model.to(compute_dtype(self.precision, device)).eval()
        with torch.inference_mode():
            for idx, inputs in length_sorted_batches(tokenizer, features, self.eval_batch_size, device):
                predictions[idx] = model(**inputs).logits.argmax(-1).cpu().numpy()
        return predictions


def _forward(model, inputs, dtype):
    """The model's logits for a batch; in a lower ``dtype``, computed on cast copies of its fp32 weights (the
    gradients reach the fp32 weights through the casts)."""
    import torch

    if dtype == torch.float32:
        return model(**inputs).logits
    weights = cast_floats({**dict(model.named_parameters()), **dict(model.named_buffers())}, dtype)
    return torch.func.functional_call(model, weights, args=(), kwargs=dict(inputs)).logits


def _config(path: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path)


def offline_learner_names() -> list[str]:
    """The registered learners that need no hub: those without a checkpoint, or whose default checkpoint is
    offline (generic learners that need a model name, ``hf-classifier`` and ``icl``, are not listed)."""
    from benchmark.core.registry import init_parameters

    def offline(name: str) -> bool:
        cls = LEARNERS.get(name)
        if any(p.name == "model" and p.default is p.empty for p in init_parameters(cls)):
            return False
        return getattr(cls(), "model", None) in (None, *OFFLINE_MODELS)

    return [name for name in LEARNERS.names() if offline(name)]


def _param_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on weight matrices, none on biases and LayerNorm (the 1-D parameters)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _named_learner(name: str, doc: str, checkpoint: str | None = None):
    """A registered learner for one checkpoint (an offline model name or a hub id; by default the
    learner's name): the generic classifier with that model as its default."""

    def __init__(self, model: str = checkpoint or name, steps: int = 200, batch_size: int = 64, lr: float = 1e-4,
                 weight_decay: float = 0.01, warmup_ratio: float = 0.5, max_grad_norm: float = 1.0,
                 max_length: int = 64, eval_batch_size: int = 256, device: str = "auto", class_weight: str = "auto",
                 precision: str = "fp32"):
        TransformerClassifier.__init__(self, model, steps, batch_size, lr, weight_decay, warmup_ratio,
                                       max_grad_norm, max_length, eval_batch_size, device, class_weight, precision)

    cls = type(name.replace("-", "_"), (TransformerClassifier,), {"__init__": __init__, "__doc__": doc,
                                                                  "__module__": __name__})
    return LEARNERS.register(name)(cls)


LEARNERS.register("hf-classifier")(TransformerClassifier)
_named_learner("smollm2-clf", "SmolLM2-135M (Llama decoder, offline) as a sequence classifier: a third architecture "
               "family, like the paper's GPT-2 learner.", checkpoint="smollm2")
for _name, _doc in [
        ("minilm", "all-MiniLM-L6-v2 (BERT architecture, 22.7M params, offline) fine-tuned with the paper's recipe."),
        ("mpnet-base", "all-mpnet-base-v2 (MPNet, base size, 109.5M params, offline once assembled with `python -m "
                       "benchmark assets fetch mpnet-base`) fine-tuned with the paper's recipe."),
        ("bert-base-uncased", "BERT-base (hub): the DiLM paper's learner, fine-tuned with its recipe."),
        ("roberta-base", "RoBERTa-base (hub), for the paper's cross-architecture table."),
        ("bert-large-uncased", "BERT-large (hub), for the paper's cross-architecture table."),
        ("xlnet-base-cased", "XLNet-base (hub), for the paper's cross-architecture table (no gradient checkpointing)."),
        ("gpt2", "GPT-2 small as a sequence classifier (hub; pads with EOS), a decoder learner.")]:
    _named_learner(_name, _doc)
