"""The one interface every distillation or selection method implements, and what it returns.

A method's constructor only stores hyper-parameters (scikit-learn style), so ``get_params()`` is its
config. ``fit(task, ctx)`` does the expensive, DPC-independent work once; ``distill(state, dpc, seed)``
makes one distilled set from it. ``save_state``/``load_state`` move the state between the fit and
distill cells, which may run in different processes or cluster jobs.
"""
from __future__ import annotations

import inspect
import json
import textwrap
from dataclasses import asdict, dataclass, field, fields, replace
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
    ``pool``: the candidates the set was chosen from, when a method draws more than it keeps (generators
    over-sample, then select), so the judge can tell the generator's fidelity from the selection's.
    Saved as JSON Lines (the rows, and the pool beside them) with a JSON file (the provenance); never pickled.
    """

    examples: Examples
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    provenance: dict = field(default_factory=dict)
    source_indices: np.ndarray | None = None
    pool: Examples | None = None

    ROWS: ClassVar[str] = "distilled.jsonl"
    POOL: ClassVar[str] = "candidates.jsonl"
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
        """Write rows, pool and provenance into ``directory`` (the caller makes the write atomic)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._write_rows(directory / self.ROWS, self.examples, self.source_indices)
        if self.pool is not None:
            self._write_rows(directory / self.POOL, self.pool, None)
        meta = {"text_fields": list(self.text_fields), "label_names": list(self.label_names),
                "n_examples": len(self), "per_class": self.per_class(), "provenance": self.provenance}
        if self.pool is not None:
            meta["n_candidates"] = len(self.pool)
        (directory / self.META).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")

    def _write_rows(self, path: Path, examples: Examples, indices: np.ndarray | None) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for i, (text, label) in enumerate(zip(examples.texts, examples.labels.tolist())):
                row = {**dict(zip(self.text_fields, text)), "label": label, "label_name": self.label_names[label]}
                if indices is not None:
                    row["train_index"] = int(indices[i])
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: Path) -> "DistilledSet":
        meta = json.loads((directory / cls.META).read_text(encoding="utf-8"))
        fields = tuple(meta["text_fields"])
        examples, indices = _read_rows(directory / cls.ROWS, fields)
        source = np.asarray(indices, dtype=np.int64) if indices and all(i is not None for i in indices) else None
        pool = _read_rows(directory / cls.POOL, fields)[0] if (directory / cls.POOL).is_file() else None
        return cls(examples, fields, tuple(meta["label_names"]), meta["provenance"], source, pool)


def _read_rows(path: Path, fields: tuple[str, ...]) -> tuple[Examples, list]:
    """A JSON Lines file of a set: its examples and each row's train index (None where it has none)."""
    texts, labels, indices = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(tuple(row[name] for name in fields))
            labels.append(row["label"])
            indices.append(row.get("train_index"))
    return Examples(tuple(texts), np.asarray(labels, dtype=np.int64)), indices


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


@dataclass(frozen=True)
class CostModel:
    """How ``rehearse`` projects a method's cells onto the real models and GPU (``Method.cost_model``; a method
    without one is rehearsed and shown as "not modelled"). A projection is the name of a function in
    ``benchmark.study.rehearsal.projections.PROJECTIONS`` or, for a plugin, a callable ``(scale, config, dpc) -> Cost``;
    each gets the method's resolved config for the task (``config(task)`` if the method has one, else its params).

    fit: the fit's parts as (label, projection), in order. shared: part label -> the config fields keying that part's
    build (another method of the grid with the same part and equal values builds it first: counted once). distill:
    the distill cell's projection. twins: config fields whose equal values (same task and DPC, same distill
    projection) make two methods' distill cells the same work (measured once). evaluate_steps: for embedding-level
    sets, the config field holding the steps they train a learner for. advice: what to lower when its GPU memory is
    exceeded."""

    fit: tuple[tuple[str, Any], ...] = ()
    shared: tuple[tuple[str, tuple[str, ...]], ...] = ()
    distill: Any = None
    twins: tuple[str, ...] = ()
    evaluate_steps: str | None = None
    advice: str = "no setting of the method lowers it"


class Method:
    """Base class of distillation methods. Subclasses set the class attributes and implement ``distill``.

    kind: "text" (a set of texts that trains any learner), "embedding" (tensors in one model's space) or
    "empty" (no examples: only in-context learners can use it, zero-shot).
    dpc_independent: the set does not depend on DPC (``full``): distilled once, shown in every DPC column.
    deterministic: every seed gives the same set (``full``, herding): one set is made instead of n_sets.
    seeded_fit: the fit depends on its seed (a trained generator): a grid's ``n_fits`` fits are made, n_sets sets each.
    reference: a reference row (Full dataset, Random), shown apart from the methods under test.
    baseline: the reference every other row is tested against (Random) unless a grid names another (``baseline``).
    upper_bound: a reference trained on the whole train split (Full dataset): listed first, never ranked best.
    projection_of: the method whose set this text method maps to text (tdd-text: "tdd"; same params, task, DPC,
    seed): the report shows these texts on that method's embedding-level set pages.
    CARD: the method card; TEST_PARAMS: cheap hyper-parameters for the contract tests.
    MODEL_PARAMS: the hyper-parameters that name a model (``rehearse`` swaps in a tiny one of its architecture);
    REHEARSAL_PARAMS: a few steps of each loop, at the real batch sizes and lengths (``rehearse``);
    cost_model: what its stages cost on the real models (``CostModel``; None: ``rehearse`` says "not modelled").
    uses_gpu: its fit and distill stages run a model on a GPU where there is one (a dry run counts them in GPU
    hours); False for methods that only pick or copy examples (random, full), counted in CPU hours.
    """

    kind: ClassVar[str] = "text"
    dpc_independent: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    seeded_fit: ClassVar[bool] = False
    reference: ClassVar[bool] = False
    baseline: ClassVar[bool] = False
    upper_bound: ClassVar[bool] = False
    projection_of: ClassVar[str | None] = None
    CARD: ClassVar[MethodCard | None] = None
    TEST_PARAMS: ClassVar[dict] = {}  # a cheap setting for the contract tests
    PRESETS: ClassVar[dict] = {}  # methods configured by a dataclass: preset name -> config (``config_constructor``)
    MODEL_PARAMS: ClassVar[tuple[str, ...]] = ()
    REHEARSAL_PARAMS: ClassVar[dict] = {}
    cost_model: ClassVar[CostModel | None] = None
    uses_gpu: ClassVar[bool] = True

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
                 source_indices: np.ndarray | None = None, pool: Examples | None = None) -> DistilledSet:
        """Wrap ``examples`` (and the ``pool`` of candidates they were chosen from) as a DistilledSet with this
        method's provenance."""
        provenance = {"method": getattr(type(self), "registry_name", type(self).__name__),
                      "params": self.get_params(), "task": task.name,
                      "train_checksum": task.splits.train.checksum(), "dpc": dpc, "seed": seed,
                      "code_version": code_version()}
        return DistilledSet(examples, tuple(task.text_fields), tuple(task.label_names), provenance,
                            None if source_indices is None else np.asarray(source_indices, dtype=np.int64), pool)


def card_text(name: str, cls: type[Method]) -> str:
    """The method card as text: summary, kind, flags, costs, hyper-parameters with defaults, citation."""
    card = cls.CARD or MethodCard((cls.__doc__ or "").strip(), "?", "?")
    params = init_parameters(cls)
    flags = [flag for flag in ("deterministic", "dpc_independent", "seeded_fit", "reference") if getattr(cls, flag)]
    lines = [textwrap.fill(f"{name}: {card.summary}", width=100, subsequent_indent="    "),
             f"  kind: {cls.kind}" + (f"; {', '.join(flags)}" if flags else ""),
             f"  fit: {card.fit_cost}",
             f"  distill: {card.distill_cost}",
             "  hyper-parameters: " + (", ".join(f"{p.name}={p.default!r}" for p in params) or "none")]
    if cls.PRESETS:
        lines[-1] = (f"  hyper-parameters: preset={params[0].default!r} and each field of the presets below "
                     f"(a value given in a grid replaces the preset's)")
        lines += preset_lines(cls.PRESETS, [p.name for p in params])
    if cls.TEST_PARAMS:
        lines.append(f"  contract tests use: {cls.TEST_PARAMS}")
    if card.citation:
        lines.append(f"  cite: {card.citation}")
    return "\n".join(lines)


def config_constructor(config_cls: type, names: tuple[str, ...], default_preset: str = "cpu"):
    """An ``__init__(self, preset=default_preset, <name>=None, ...)`` over the given fields of a config dataclass
    that stores each one (None: the preset's value). Its signature lists them, so ``get_params``, grid checks and
    ``list --details`` see every one; the dataclass stays the one place where the hyper-parameters are declared."""
    parameter = inspect.Parameter
    types = {f.name: f.type for f in fields(config_cls)}

    def __init__(self, preset: str = default_preset, **params):
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(f"unexpected hyper-parameter(s) {', '.join(unknown)}")
        self.preset = preset
        for name in names:
            setattr(self, name, params.get(name))

    __init__.__signature__ = inspect.Signature(
        [parameter("self", parameter.POSITIONAL_OR_KEYWORD),
         parameter("preset", parameter.POSITIONAL_OR_KEYWORD, default=default_preset)]
        + [parameter(name, parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=f"{types[name]} | None")
           for name in names])
    return __init__


def resolve_preset(presets: dict, preset: str, overrides: dict, what: str, per_task: dict | None = None):
    """``presets[preset]`` (a config dataclass) with ``per_task`` values, then every non-None override, over it;
    an unknown preset or field is a ValueError naming ``what`` and the close matches."""
    from benchmark.core.errors import did_you_mean

    if preset not in presets:
        raise ValueError(f"unknown {what} preset {preset!r}{did_you_mean(preset, presets)}; presets: {', '.join(presets)}")
    known = {f.name for f in fields(presets[preset])}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown {what} hyper-parameter(s) {unknown}; known: {', '.join(sorted(known))}")
    return replace(presets[preset], **{**(per_task or {}), **{k: v for k, v in overrides.items() if v is not None}})


def preset_lines(presets: dict, shown: list[str]) -> list[str]:
    """The presets of a method for its card (the fields in ``shown``): the first in full, each other as its
    differences from the first."""
    names = list(presets)
    first = {k: v for k, v in asdict(presets[names[0]]).items() if k in shown}
    lines = [f"  preset {names[0]!r}: " + ", ".join(f"{k}={v!r}" for k, v in first.items())]
    for name in names[1:]:
        changed = {k: v for k, v in asdict(presets[name]).items() if k in first and first[k] != v}
        lines.append(f"  preset {name!r}: as {names[0]!r} but " + ", ".join(f"{k}={v!r}" for k, v in changed.items()))
    return lines


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
