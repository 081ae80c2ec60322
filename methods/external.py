"""external: distilled sets made elsewhere, read from a folder, evaluated like any method's sets.

Layout: ``<path>/<task>/dpc_<D>/dataset_<i>.json`` or ``.jsonl`` (JSON Lines, one example a line),
the set seed i picking the file. Reads the DiLM authors' released format (label column ``labels``)
and this project's export (``label``); text columns are the task's field names.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark.core.errors import UsageError
from benchmark.tasks.base import Examples
from methods import METHODS
from methods.base import CostModel, DistilledSet, Method, MethodCard

LABEL_COLUMNS = ("label", "labels")


@METHODS.register("external")
class External(Method):
    """Distilled sets from a folder (released DiLM sets, or any method's export), one row per source."""

    cost_model = CostModel()  # nothing on a GPU: its sets are read from a folder
    uses_gpu = False
    CARD = MethodCard(
        summary="Evaluates distilled sets made elsewhere: <path>/<task>/dpc_<D>/dataset_<seed>.json[l] "
                "(the DiLM release's format or this project's export); `label` names its row.",
        fit_cost="nothing", distill_cost="reads one JSON Lines file")

    def __init__(self, path: str = "", label: str = "external", source_task: str = ""):
        self.path = path
        self.label = label
        self.source_task = source_task

    @property
    def display_name(self) -> str:
        return self.label

    def set_file(self, task_name: str, dpc: int, seed: int) -> Path:
        folder = Path(self.path).expanduser() / (self.source_task or task_name) / f"dpc_{dpc}"
        for suffix in (".jsonl", ".json"):
            candidate = folder / f"dataset_{seed}{suffix}"
            if candidate.is_file():
                return candidate
        available = sorted(p.name for p in folder.glob("dataset_*.json*")) if folder.is_dir() else []
        raise UsageError(f"external set {folder}/dataset_{seed}.json(l) not found"
                         + (f"; the folder has {len(available)} sets: {', '.join(available[:5])}..." if available
                            else f"; {folder} does not exist (path={self.path!r}, source_task="
                                 f"{self.source_task or task_name!r})"))

    def distill(self, state, dpc, seed) -> DistilledSet:
        task = state
        if not self.path:
            raise UsageError("method 'external' needs params.path: the folder holding <task>/dpc_<D>/dataset_<i>.json")
        path = self.set_file(task.name, dpc, seed)
        texts, labels = [], []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                missing = [c for c in task.text_fields if c not in row]
                label_column = next((c for c in LABEL_COLUMNS if c in row), None)
                if missing or label_column is None:
                    raise UsageError(f"{path}:{number}: missing column(s) "
                                     f"{', '.join(missing + ([] if label_column else ['label or labels']))}; "
                                     f"task {task.name!r} needs {', '.join(task.text_fields)} and a label")
                label = int(row[label_column])
                if not 0 <= label < task.num_classes:
                    raise UsageError(f"{path}:{number}: label {label} is not a class of {task.name!r} "
                                     f"({', '.join(task.label_names)})")
                texts.append(tuple(str(row[c]) for c in task.text_fields))
                labels.append(label)
        examples = Examples(tuple(texts), np.asarray(labels, dtype=np.int64))
        counts = examples.class_counts(task.num_classes)
        if (counts != dpc).any():
            raise UsageError(f"{path}: expected {dpc} examples per class, found {dict(zip(task.label_names, counts.tolist()))}")
        distilled = self.make_set(task, examples, dpc, seed)
        distilled.provenance["source_file"] = str(path.resolve())
        return distilled
