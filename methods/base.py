"""The one interface every distillation or selection method implements, and what it returns.

A method's constructor only stores hyper-parameters (scikit-learn style), so ``get_params()`` is its
config. ``fit(task, ctx)`` does the expensive, DPC-independent work once; ``distill(state, dpc, seed)``
makes one distilled set from it. ``save_state``/``load_state`` move the state between the fit and
distill cells, which may run in different processes or cluster jobs.
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.core.errors import UsageError
from benchmark.core.registry import constructor_params, init_parameters
from benchmark.core.provenance import code_version
from benchmark.tasks.base import Examples, Task


@dataclass
class FitContext:
    """What a method's fit may use: a private work folder (checkpoints survive a re-run) and its seed."""

    work_dir: Path
    seed: int = 0


@dataclass
class DistilledSet:
    """Text examples + labels, with provenance (method, params, task, split checksum, DPC, seed, version).

    ``source_indices`` are the train-split indices of selected real examples (coresets), else None.
    Saved as JSON Lines (the rows) beside a JSON file (the provenance); never pickled.
    """

    examples: Examples
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    provenance: dict = field(default_factory=dict)
    source_indices: np.ndarray | None = None

    ROWS: ClassVar[str] = "distilled.jsonl"
    META: ClassVar[str] = "distilled.json"
    kind: ClassVar[str] = "text"

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def labels(self) -> np.ndarray:
        return self.examples.labels

    def checksum(self) -> str:
        return self.examples.checksum()

    def per_class(self) -> dict[str, int]:
        counts = self.examples.class_counts(len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def save(self, directory: Path) -> None:
        """Write rows and provenance into ``directory`` (the caller makes the write atomic)."""
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / self.ROWS, "w", encoding="utf-8") as f:
            for i, (text, label) in enumerate(zip(self.examples.texts, self.examples.labels.tolist())):
                row = dict(zip(self.text_fields, text))
                row["label"] = label
                row["label_name"] = self.label_names[label]
                if self.source_indices is not None:
                    row["train_index"] = int(self.source_indices[i])
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        meta = {"text_fields": list(self.text_fields), "label_names": list(self.label_names),
                "n_examples": len(self), "per_class": self.per_class(), "provenance": self.provenance}
        (directory / self.META).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "DistilledSet":
        meta = json.loads((directory / cls.META).read_text(encoding="utf-8"))
        fields = tuple(meta["text_fields"])
        texts, labels, indices = [], [], []
        with open(directory / cls.ROWS, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                texts.append(tuple(row[name] for name in fields))
                labels.append(row["label"])
                indices.append(row.get("train_index"))
        source = np.asarray(indices, dtype=np.int64) if indices and all(i is not None for i in indices) else None
        return cls(Examples(tuple(texts), np.asarray(labels, dtype=np.int64)), fields,
                   tuple(meta["label_names"]), meta["provenance"], source)


def load_distilled(directory: Path):
    """A distill cell's set: a text ``DistilledSet`` or, when its JSON says so, an embedding-level set."""
    meta = json.loads((directory / DistilledSet.META).read_text(encoding="utf-8"))
    if meta.get("kind") == "embedding":
        from methods.embedding_set import EmbeddingSet

        return EmbeddingSet.load(directory)
    return DistilledSet.load(directory)


@dataclass(frozen=True)
class MethodCard:
    """What a reader of the leaderboard needs to know about a method (``list --methods --details``).

    summary: what it does, in two lines; fit_cost / distill_cost: what each stage computes;
    citation: the paper to cite (shown under tables that use the method)."""

    summary: str
    fit_cost: str
    distill_cost: str
    citation: str = ""


class Method:
    """Base class of distillation methods. Subclasses set the class attributes and implement ``distill``.

    kind: "text" (a set of texts that trains any learner), "embedding" (tensors in one model's space) or
    "empty" (no examples: only in-context learners can use it, zero-shot).
    dpc_independent: the set does not depend on DPC (``full``): distilled once, shown in every DPC column.
    deterministic: every seed gives the same set (``full``, herding): one set is made instead of n_sets.
    reference: a reference row (Full dataset, Random), shown apart from the methods under test.
    CARD: the method card; TEST_PARAMS: cheap hyper-parameters for the contract tests.
    MODEL_PARAMS: the hyper-parameters that name a model (``rehearse`` swaps in a tiny one of its architecture);
    REHEARSAL_PARAMS: a few steps of each loop, at the real batch sizes and lengths (``rehearse``).
    """

    kind: ClassVar[str] = "text"
    dpc_independent: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    reference: ClassVar[bool] = False
    CARD: ClassVar[MethodCard | None] = None
    TEST_PARAMS: ClassVar[dict] = {}
    MODEL_PARAMS: ClassVar[tuple[str, ...]] = ()
    REHEARSAL_PARAMS: ClassVar[dict] = {}

    def get_params(self) -> dict[str, Any]:
        """The constructor's hyper-parameters and their current values (the method's config)."""
        return constructor_params(self)

    @classmethod
    def resolved_config(cls, params: dict, task: str | None = None) -> dict | None:
        """For methods that fill unset parameters from a preset: every value in effect for ``task`` (a task name;
        presets may set values per task), part of the fit cell id. None (the default) when the parameters are
        the whole config."""
        return None

    @property
    def display_name(self) -> str:
        """The method's row label in tables (the registry name unless a method says otherwise)."""
        return getattr(type(self), "registry_name", type(self).__name__)

    def fit(self, task: Task, ctx: FitContext) -> Any:
        """The expensive, DPC-independent part. Default: nothing to compute; the state is the task."""
        return task

    def fit_report(self, state: Any) -> dict:
        """What the fit measured, for its record (stage times, losses, resolved config). Default: nothing."""
        return {}

    def save_state(self, state: Any, directory: Path) -> None:
        """Persist what ``fit`` computed into ``directory`` (it exists, empty). Default: nothing (the state is the task)."""

    def load_state(self, directory: Path, task: Task) -> Any:
        """Rebuild the state saved by ``save_state``. Default: the task itself."""
        return task

    def distill(self, state: Any, dpc: int, seed: int) -> DistilledSet:
        raise NotImplementedError

    def make_set(self, task: Task, examples: Examples, dpc: int | None, seed: int,
                 source_indices: np.ndarray | None = None) -> DistilledSet:
        """Wrap ``examples`` as a DistilledSet with this method's provenance."""
        provenance = {"method": getattr(type(self), "registry_name", type(self).__name__),
                      "params": self.get_params(), "task": task.name,
                      "train_checksum": task.splits.train.checksum(), "dpc": dpc, "seed": seed,
                      "code_version": code_version()}
        return DistilledSet(examples, tuple(task.text_fields), tuple(task.label_names), provenance,
                            None if source_indices is None else np.asarray(source_indices, dtype=np.int64))


def card_text(name: str, cls: type[Method]) -> str:
    """The method card as text: summary, kind, flags, costs, hyper-parameters with defaults, citation."""
    card = cls.CARD or MethodCard((cls.__doc__ or "").strip(), "?", "?")
    params = init_parameters(cls)
    flags = [flag for flag in ("deterministic", "dpc_independent", "reference") if getattr(cls, flag)]
    lines = [textwrap.fill(f"{name}: {card.summary}", width=100, subsequent_indent="    "),
             f"  kind: {cls.kind}" + (f"; {', '.join(flags)}" if flags else ""),
             f"  fit: {card.fit_cost}",
             f"  distill: {card.distill_cost}",
             "  hyper-parameters: " + (", ".join(f"{p.name}={p.default!r}" for p in params) or "none")]
    if card.citation:
        lines.append(f"  cite: {card.citation}")
    return "\n".join(lines)


def per_class_indices(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """For each class, the (sorted) indices of its examples."""
    return [np.flatnonzero(labels == c) for c in range(num_classes)]


def check_dpc(task: Task, dpc: int) -> None:
    """Raise a clear error when a class of the train split has fewer than ``dpc`` examples."""
    counts = task.splits.train.class_counts(task.num_classes)
    small = [f"{name!r} ({int(count)})" for name, count in zip(task.label_names, counts) if count < dpc]
    if small:
        smallest = int(np.argmin(counts))
        raise UsageError(f"DPC {dpc} is larger than class {small[0].split(' (')[0]} of task {task.name!r}: training "
                         f"examples per class too few: {', '.join(small)}; use a DPC of at most {int(counts[smallest])} "
                         f"(the size of class {task.label_names[smallest]!r}, the smallest).")
