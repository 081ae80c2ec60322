"""The learner interface: train on labelled texts with a seed, predict labels for texts."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from benchmark.core.registry import constructor_params
from benchmark.tasks.base import Examples


class Learner:
    """A model family with a training recipe (its constructor's hyper-parameters, stored as given).

    ``fit_predict`` trains a fresh model on ``train`` with ``seed`` and returns the predicted labels of
    ``test`` (or ``(labels, details)``, details going into the run's record). ``accepts`` names the
    distilled-set kinds it can train on; ``family`` groups learners in tables.
    """

    accepts: ClassVar[tuple[str, ...]] = ("text",)
    family: ClassVar[str] = "fine-tuned"  # "fine-tuned", "non-neural" or "icl" (in-context: its own tables)
    uses_gpu: ClassVar[bool] = True  # trains on a GPU where there is one: a dry run counts its cells in GPU hours
    TEST_PARAMS: ClassVar[dict] = {}  # a cheap recipe for the contract tests
    MODEL_PARAMS: ClassVar[tuple[str, ...]] = ()  # the recipe keys that name a model (``rehearse`` swaps in a tiny one)
    REHEARSAL_PARAMS: ClassVar[dict] = {}  # a few steps at the real batch size and length (``rehearse``)
    PARAM_RANGES: ClassVar[dict] = {}  # parameter -> its range (``x > 0``) or allowed values, checked with the grid
    class_weight_reason: str | None = None  # why ``for_task`` chose the class weighting the grid left to the default

    def get_params(self) -> dict[str, Any]:
        """The recipe: the constructor's hyper-parameters and their values (stored in every record)."""
        return constructor_params(self)

    embedding_space: ClassVar[str | None] = None  # the input-embedding space it reads (learners accepting "embedding")

    def for_task(self, task) -> "Learner":
        """This learner for ``task`` (learners that need the task's field names or label words fill them in; a
        ``class_weight`` left ``auto`` becomes ``balanced`` or ``none`` for the task, ``default_class_weight``; a
        task-like that names only fields and words, without splits, leaves ``auto`` to each training set)."""
        params = self.get_params()
        if params.get("class_weight") != "auto" or not hasattr(task, "splits"):
            return self
        params["class_weight"], reason = default_class_weight(task)
        learner = type(self)(**params)
        learner.class_weight_reason = reason
        return learner

    def fit_predict(self, train: Examples, test: Examples, num_labels: int, seed: int) -> np.ndarray:
        raise NotImplementedError

    stackable: ClassVar[bool] = False  # whether ``fit_predict_many`` trains runs together (the runner groups them)

    def fit_predict_many(self, trains: list[Examples], test: Examples, num_labels: int, seeds: list[int]) -> list:
        """One run per (train set, seed), all scored on ``test``: the predictions of each, in order.
        Stackable learners train the runs together; this default runs them one after the other."""
        return [self.fit_predict(train, test, num_labels, seed) for train, seed in zip(trains, seeds)]

    def stack_width(self, cap: int, train_size: int, lengths: list[int] | None = None) -> int:
        """How many runs on sets of up to ``train_size`` examples (of these token ``lengths``, when known)
        ``fit_predict_many`` should get at once (at most ``cap``)."""
        return 1

    def fit_predict_embedded(self, artifact, test: Examples, num_labels: int, seed: int) -> np.ndarray:
        """Train on an embedding-level set (its own recipe) and predict ``test``; only for accepting learners."""
        raise NotImplementedError(f"{type(self).__name__} does not train on embedding-level sets")


def batch_indices(n: int, batch_size: int, steps: int, seed: int):
    """``steps`` batches of min(batch_size, n) indices, seeded: epoch-wise reshuffling, so a set smaller
    than the batch is one full batch every step (the paper's full-batch recipe)."""
    import torch

    order = torch.Generator().manual_seed(seed)
    batch = min(batch_size, n)
    queue: list[int] = []
    for _ in range(steps):
        if len(queue) < batch:
            queue += torch.randperm(n, generator=order).tolist()
        yield queue[:batch]
        queue = queue[batch:]


def join_fields(text: tuple[str, ...], separator: str = " ") -> str:
    """One string for learners that read a single text (sentence pairs joined by ``separator``)."""
    return separator.join(text)


def learner_card_text(name: str, cls: type[Learner]) -> str:
    """A learner's card as text: summary, family, the set kinds it trains on, its recipe's defaults."""
    from benchmark.core.registry import init_parameters

    summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    params = ", ".join(f"{p.name}={p.default!r}" for p in init_parameters(cls)) or "none"
    lines = [f"{name}: {summary}", f"  family: {cls.family}; trains on: {', '.join(cls.accepts)} sets",
             f"  recipe: {params}"]
    if cls.TEST_PARAMS:
        lines.append(f"  contract tests use: {cls.TEST_PARAMS}")
    return "\n".join(lines)


CLASS_WEIGHTS = ("auto", "none", "balanced")
IMBALANCE_RATIO = 2.0  # train classes are imbalanced when the largest holds more than this times the smallest


def imbalanced(counts: np.ndarray) -> bool:
    """Whether class sizes ``counts`` are imbalanced: the largest over ``IMBALANCE_RATIO`` times the smallest."""
    return len(counts) > 1 and counts.max() > IMBALANCE_RATIO * counts.min()


def default_class_weight(task) -> tuple[str, str]:
    """``class_weight: auto`` for ``task``: ("balanced", why) when its train classes are imbalanced or its metric is
    macro-F1 (unweighted, a learner trained on the whole train split collapses to the majority class and the Full
    row falls below Random), else ("none", why)."""
    counts = task.splits.train.class_counts(task.num_classes)
    sizes = ", ".join(f"{name} {n}" for name, n in zip(task.label_names, counts.tolist()))
    if imbalanced(counts):
        return "balanced", f"auto: train classes imbalanced ({sizes}; largest > {IMBALANCE_RATIO:g}x smallest)"
    if task.metric == "macro_f1":
        return "balanced", "auto: the task's metric is macro_f1"
    return "none", f"auto: train classes balanced ({sizes}) and metric {task.metric}"


def class_weights(labels: np.ndarray, num_labels: int, mode: str) -> np.ndarray | None:
    """Per-class loss weights for imbalanced training data: ``balanced`` weighs each class by n / (k x its count)
    (scikit-learn's rule; a class absent from the set gets weight 1); ``none``: None, every example counts once;
    ``auto`` (a learner not bound to a task by ``for_task``): ``balanced`` when the set's classes are imbalanced."""
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight must be one of {', '.join(CLASS_WEIGHTS)}, got {mode!r}")
    counts = np.bincount(np.asarray(labels), minlength=num_labels).astype(float)
    if mode == "none" or mode == "auto" and not imbalanced(counts[counts > 0]):
        return None
    present = counts > 0
    weights = np.ones(num_labels)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights



DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
PRECISIONS = (*DTYPES, "auto")


def resolve_precision(precision: str, device: str) -> str:
    """The precision of a fine-tuned learner's steps: ``fp32``, the paper's recipe; ``bf16``, each step on bfloat16
    copies of the fp32 weights (gradients flow back to them; the loss, clipping and AdamW stay in fp32), 1.8x faster
    on a CPU with AVX-512 BF16 (MiniLM, measured) and the usual GPU mixed precision; ``auto``, bf16 where ``device``
    multiplies bfloat16 natively, else fp32 (emulated bf16 is slower than fp32): ``dilm.precision``'s rule, shared
    with DiLM's stage-2 learner, the embedders and TDD."""
    from dilm.precision import resolve

    return resolve(precision, device)


def compute_dtype(precision: str, device: str):
    """The torch dtype ``resolve_precision`` picks."""
    import torch

    return getattr(torch, DTYPES[resolve_precision(precision, device)])


def cast_floats(tensors: dict, dtype) -> dict:
    """``tensors`` with the floating ones cast to ``dtype`` (a no-op, the same tensors, when they already are)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
