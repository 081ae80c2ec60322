"""Frozen-encoder embeddings of a task's train split, computed once and cached on disk (numpy .npy).

The cache key is (task, train-split checksum, encoder, pooling, max length, and the precision when it resolves to
bf16): every coreset method, DPC and seed shares one file. Files are written to a temporary name, fsynced and renamed,
so concurrent writers are harmless (they write the same bytes) and a reader never sees a partial file; a file that
does not load (or has the wrong number of rows) is set aside and computed again.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmark.core.assets import pick_device, resolve_model
from benchmark.core.cache import artifact_root, cache_kind, file_build_seconds, note_artifact
from benchmark.core.durable import read_or_set_aside, save_npy
from benchmark.core.names import safe_name
from benchmark.tasks.base import Examples, Task
from benchmark.core.tokenization import length_sorted_batches, tokenize
from dilm.precision import PRECISIONS, autocast, resolve

log = logging.getLogger("methods.embeddings")
POOLINGS = ("cls", "mean")
CACHE_FORMAT = 1  # bumped when how embeddings are computed changes: older cached arrays are never reused


@dataclass(frozen=True)
class EmbeddingSpace:
    """Which frozen encoder and pooling embed the texts: ``cls`` (the [CLS] state, as in the paper) or
    ``mean`` (mean of the token states over the attention mask); ``precision`` the encoder's (``dilm/precision.py``:
    bf16 autocast, as the DiLM authors' coreset embedder ran, or fp32; embeddings are returned in float32 either
    way)."""

    encoder: str = "minilm"
    pooling: str = "cls"
    max_length: int = 64
    precision: str = "fp32"

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def resolved_precision(self) -> str:
        """The precision the encoder runs in on this machine (``auto`` resolved): fp32 or bf16."""
        return resolve(self.precision, pick_device("auto"))

    @property
    def id(self) -> str:
        """Names the cached file: bf16 embeddings are other numbers than fp32 ones (fp32's id is the one it had
        before the precision existed)."""
        slug = self.encoder.replace("/", "--")
        low = "" if self.resolved_precision() == "fp32" else ".bf16"
        return f"{slug}.{self.pooling}.len{self.max_length}{low}"


def encode(texts: tuple[tuple[str, ...], ...], space: EmbeddingSpace, batch_size: int = 128,
           device: str = "auto") -> np.ndarray:
    """float32 embeddings (n x hidden) of ``texts`` (tuples of fields; pairs are encoded as pairs)."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    device = pick_device(device)
    path = resolve_model(space.encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, use_kernels=False).to(device).eval()
    features = tokenize(tokenizer, texts, space.max_length)
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    batches = length_sorted_batches(tokenizer, features, batch_size, device)
    with torch.inference_mode(), autocast(space.precision, device):
        for idx, batch in tqdm(batches, total=-(-len(features) // batch_size), desc="embed", leave=False, disable=None):
            states = model(**batch).last_hidden_state
            if space.pooling == "cls":
                pooled = states[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1)
            out[idx] = pooled.float().cpu().numpy()
    return out


CACHE_KIND = cache_kind("embeddings", "frozen-encoder embeddings of task splits (coresets, selection)", shared=True)


def cache_path(task: Task, examples: Examples, space: EmbeddingSpace) -> Path:
    name = safe_name(task.name, "task name")
    return artifact_root() / CACHE_KIND / f"{name}.{examples.checksum()}.{space.id}.v{CACHE_FORMAT}.npy"


def cached_embeddings(task: Task, space: EmbeddingSpace) -> tuple[np.ndarray, Path]:
    """The train split's embeddings in ``space``: loaded from the cache, or computed and cached."""
    train = task.splits.train
    path = cache_path(task, train, space)

    def read(path: Path) -> np.ndarray:
        embeddings = np.load(path)
        if embeddings.shape[0] != len(train):
            raise ValueError(f"{embeddings.shape[0]} rows, expected {len(train)}")
        return embeddings

    embeddings = read_or_set_aside(path, read)
    if embeddings is not None:
        note_artifact(path, False, file_build_seconds(path))  # its build is shared by the cells that reuse it
        return embeddings, path
    log.info("embedding %d train examples of %s with %s", len(train), task.name, space)
    t0 = time.perf_counter()
    embeddings = encode(train.texts, space)
    seconds = time.perf_counter() - t0
    save_npy(path, embeddings)
    file_build_seconds(path, seconds)
    note_artifact(path, True, seconds)
    return embeddings, path


def space_digest(embeddings: np.ndarray) -> str:
    """sha256 (16 hex digits) of an embedding matrix: recorded so a set can be traced to its inputs."""
    return hashlib.sha256(np.ascontiguousarray(embeddings).tobytes()).hexdigest()[:16]


def describe(space: EmbeddingSpace) -> dict:
    """The space as recorded: its settings, its cache id and the precision it ran in here (``auto`` resolved)."""
    return {**asdict(space), "id": space.id, "precision_used": space.resolved_precision()}
