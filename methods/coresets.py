"""Coreset baselines: real training examples selected per class in a frozen encoder's embedding space.

``fit`` embeds the train split once (cached on disk, shared by every coreset method, DPC and seed);
``distill`` runs the selection per class. The embedding space is a hyper-parameter (encoder, pooling, and the
encoder's precision: fp32, or bf16 as the DiLM authors' coreset embedder ran, ``src/coreset/coreset_utils.py:41``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.tasks.base import Task
from dilm.precision import PRECISIONS
from dilm.selection import kmeans_centers
from methods import METHODS
from methods.base import CostModel, DistilledSet, FitContext, Method, MethodCard, check_dpc, per_class_indices
from methods.coreset_selection import herding, kcenter_greedy
from methods.embeddings import POOLINGS, EmbeddingSpace, cached_embeddings, describe, space_digest


@dataclass
class EmbeddedTask:
    """A coreset method's fit state: the task and its train split's embeddings."""

    task: Task
    embeddings: np.ndarray
    space: EmbeddingSpace


class EmbeddingCoreset(Method):
    """Base of per-class coreset methods in an embedding space; subclasses implement ``select``."""

    MODEL_PARAMS = ("encoder",)
    EMBEDDING = (("embedding", "embed_train_split"),)  # one pass of the encoder over the train split, cached
    SPACE = (("embedding", ("encoder", "pooling", "max_length", "precision")),)  # ... and shared by every coreset of the space

    PARAM_RANGES = {"pooling": POOLINGS, "max_length": "x >= 1", "precision": PRECISIONS}

    def __init__(self, encoder: str = "minilm", pooling: str = "cls", max_length: int = 64, precision: str = "fp32"):
        self.encoder = encoder
        self.pooling = pooling
        self.max_length = max_length
        self.precision = precision  # the encoder's: fp32, bf16 or auto (``dilm/precision.py``)

    def fit(self, task: Task, ctx: FitContext) -> EmbeddedTask:
        space = EmbeddingSpace(self.encoder, self.pooling, self.max_length, self.precision)
        embeddings, _ = cached_embeddings(task, space)
        return EmbeddedTask(task, embeddings, space)

    def fit_report(self, state: EmbeddedTask) -> dict:
        """The embedding space as it ran (its precision resolved on this machine), for the fit's record."""
        return {"embedding_space": describe(state.space)}

    def save_state(self, state: EmbeddedTask, directory: Path) -> None:
        (directory / "embedding_space.json").write_text(json.dumps(
            {**describe(state.space), "rows": len(state.embeddings), "sha256_16": space_digest(state.embeddings)},
            indent=2))

    def load_state(self, directory: Path, task: Task) -> EmbeddedTask:
        saved = json.loads((directory / "embedding_space.json").read_text())
        state = self.fit(task, None)
        if space_digest(state.embeddings) != saved["sha256_16"]:
            raise RuntimeError(f"the cached embeddings of {task.name} in {state.space.id} differ from the ones "
                               f"the fit cell saw ({saved['sha256_16']}); delete the fit cell to redo it")
        return state

    def distill(self, state: EmbeddedTask, dpc: int, seed: int) -> DistilledSet:
        task = state.task
        check_dpc(task, dpc)
        train = task.splits.train
        chosen = [members[self.select(state.embeddings[members], dpc, seed)]
                  for members in per_class_indices(train.labels, task.num_classes)]
        indices = np.concatenate(chosen)
        return self.make_set(task, train.subset(indices), dpc, seed, source_indices=indices)

    def select(self, embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
        raise NotImplementedError


@METHODS.register("herding")
class Herding(EmbeddingCoreset):
    """Herding (Welling 2009): greedy per-class mean matching in the encoder space; deterministic."""

    deterministic = True
    cost_model = CostModel(fit=EmbeddingCoreset.EMBEDDING, shared=EmbeddingCoreset.SPACE, distill="herding_selection")
    CARD = MethodCard(
        summary="Herding: per class, greedily add the example that brings the selection's mean closest to the "
                "class mean in a frozen encoder's space (argmin). Deterministic.",
        fit_cost="embed the train split once with the encoder (cached on disk, shared by all coresets)",
        distill_cost="DPC greedy steps over the class's embeddings (milliseconds)",
        citation="Welling, Herding dynamical weights to learn, ICML 2009")

    def select(self, embeddings, k, seed):
        return herding(embeddings, k)


@METHODS.register("kmeans-centers")
class KMeansCenters(EmbeddingCoreset):
    """The DiLM paper's K-centers: per-class k-means (k = DPC, k-means++, seeded), nearest real example per centroid."""

    cost_model = CostModel(fit=EmbeddingCoreset.EMBEDDING, shared=EmbeddingCoreset.SPACE, distill="kmeans_selection")
    CARD = MethodCard(
        summary="K-centers as in the DiLM paper: per class, k-means (k = DPC, k-means++, one seeded init) in a "
                "frozen encoder's space, then the real example nearest each centroid.",
        fit_cost="embed the train split once with the encoder (cached on disk, shared by all coresets)",
        distill_cost="one k-means per class (about a second per class for thousands of examples)",
        citation="Maekawa et al., DiLM: Distilling Dataset into Language Model for Text-level Dataset "
                 "Distillation, Findings of NAACL 2024 (K-centers baseline)")

    def select(self, embeddings, k, seed):
        return kmeans_centers(embeddings, k, seed)


@METHODS.register("kcenter-greedy")
class KCenterGreedy(EmbeddingCoreset):
    """Greedy farthest-first k-center (Sener & Savarese 2018) per class, seeded first pick."""

    cost_model = CostModel(fit=EmbeddingCoreset.EMBEDDING, shared=EmbeddingCoreset.SPACE, distill="greedy_selection")
    CARD = MethodCard(
        summary="Greedy k-center: per class, a seeded random first example, then repeatedly the example "
                "farthest from those chosen, in a frozen encoder's space.",
        fit_cost="embed the train split once with the encoder (cached on disk, shared by all coresets)",
        distill_cost="DPC passes over the class's embeddings (milliseconds)",
        citation="Sener & Savarese, Active Learning for Convolutional Neural Networks: A Core-Set Approach, ICLR 2018")

    def select(self, embeddings, k, seed):
        return kcenter_greedy(embeddings, k, seed)[0]
