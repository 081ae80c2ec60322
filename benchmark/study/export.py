"""``python -m benchmark export``: the distilled sets of finished distill cells, as JSON Lines and as
``datasets.Dataset`` folders, in the layout the ``external`` method reads back:
``<out>/<source>/<task>/dpc_<D>/dataset_<seed>.jsonl`` and ``.../dataset_<seed>.hf/`` (save_to_disk). The sets of a
seeded method's later fits (``n_fits``) go to a source of their own, ``<source>-fit<k>``."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from benchmark.study.store import Store


def source_name(method: dict) -> str:
    """A folder name per (method, params): the name, plus a short hash of non-default params."""
    if not method["params"]:
        return method["name"]
    digest = hashlib.sha256(json.dumps(method["params"], sort_keys=True).encode()).hexdigest()[:8]
    return f"{method['name']}-{digest}"


def export_sets(runs_dir: Path, out_dir: Path, methods: list[str] | None = None,
                tasks: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Write every matching finished text set; returns the JSONL files written and, for each matching set left
    out, why (embedding-level sets are tensors of one model, not text; the Full-data set is the train split)."""
    from datasets import Dataset

    from methods.base import DistilledSet

    store = Store(runs_dir)
    written, skipped = [], []
    for record in store.done_records("distill"):
        config = record["config"]
        if methods and config["method"]["name"] not in methods or tasks and config["task"]["name"] not in tasks:
            continue
        if record.get("distilled", {}).get("kind", "text") != "text":
            skipped.append(f"{record['cell_id']}: an embedding-level set (tensors of one model), not text")
            continue
        if config["dpc"] is None:
            skipped.append(f"{record['cell_id']}: the Full-data reference is the task's train split, not a set")
            continue
        source = store.cell_dir("distill", record["cell_id"])
        fit = config["fit_seed"]
        source_folder = source_name(config["method"]) + (f"-fit{fit}" if fit else "")
        folder = out_dir / source_folder / config["task"]["name"] / f"dpc_{config['dpc']}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"dataset_{config['set_seed']}.jsonl"
        shutil.copyfile(source / DistilledSet.ROWS, target)
        rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        hf_folder = folder / f"dataset_{config['set_seed']}.hf"
        shutil.rmtree(hf_folder, ignore_errors=True)
        Dataset.from_list(rows).save_to_disk(str(hf_folder))
        (folder / f"dataset_{config['set_seed']}.provenance.json").write_text(
            json.dumps({"cell_id": record["cell_id"], "config": config, "code_version": record["code_version"]},
                       indent=2), encoding="utf-8")
        written.append(target)
    return written, skipped
