"""Fill the Hugging Face cache with what a grid reads from the hub (its hub tasks' datasets, its learners' and
methods' models), on a machine with internet, for compute nodes without it (``assets prefetch --grid full``)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmark.study.grid import Grid

# weights of other frameworks and exports that transformers' PyTorch classes never read
SKIPPED = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "*.tflite", "coreml/*", "*.mlmodel", "flax_model*",
           "tf_model*", "rust_model*", "openvino/*", "*.gguf"]


def hub_assets(grid: Grid) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The hub datasets (path, config) of the grid's tasks and the hub models of its learners and methods (every
    model a method's preset names on any of the grid's tasks), each once, in the grid's order; offline models
    (shipped in packages) and local folders are left out."""
    from benchmark.core.assets import OFFLINE_MODELS
    from benchmark.learners import LEARNERS
    from benchmark.tasks import TASKS
    from methods import METHODS

    datasets = []
    for task in grid.tasks:
        cls = TASKS.get(task.name)
        if getattr(cls, "hub_path", "") and (cls.hub_path, cls.hub_config) not in datasets:
            datasets.append((cls.hub_path, cls.hub_config))
    models = []
    for learner in grid.learners:
        cls = LEARNERS.get(learner.name)
        recipe = cls(**learner.kwargs).get_params()
        models += [recipe[p] for p in cls.MODEL_PARAMS]
    for method in grid.methods:
        cls = METHODS.get(method.name)
        for task in grid.tasks:
            config = cls.resolved_config(method.kwargs, task.name) or cls(**method.kwargs).get_params()
            models += [config[p] for p in cls.MODEL_PARAMS]
    hub = [m for m in dict.fromkeys(models) if isinstance(m, str) and m not in OFFLINE_MODELS and not Path(m).exists()]
    return datasets, hub


def prefetch(grid: Grid, hf_home: Path | None = None, echo: Callable[[str], None] = print) -> tuple[list, list]:
    """Download every hub dataset and model of ``grid`` into the Hugging Face cache (``hf_home``: a folder laid out
    as ``HF_HOME``, its ``hub/`` and ``datasets/``; default: the environment's cache) through
    ``datasets.load_dataset`` (every split, prepared) and ``huggingface_hub.snapshot_download`` (PyTorch weights,
    configs and tokenizers). Returns (datasets, models)."""
    from datasets import load_dataset
    from huggingface_hub import snapshot_download

    datasets, models = hub_assets(grid)
    hub_cache = str(Path(hf_home) / "hub") if hf_home else None
    data_cache = str(Path(hf_home) / "datasets") if hf_home else None
    for path, config in datasets:
        loaded = load_dataset(path, config, cache_dir=data_cache)
        echo(f"dataset {path}{'/' + config if config else ''}: "
             + ", ".join(f"{split} {len(rows)}" for split, rows in loaded.items()))
    for model in models:
        folder = snapshot_download(model, cache_dir=hub_cache, ignore_patterns=SKIPPED)
        echo(f"model {model}: {folder}")
    return datasets, models
