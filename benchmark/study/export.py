"""``python -m benchmark export``: the distilled sets of finished distill cells, as JSON Lines and as
``datasets.Dataset`` folders, in the layout the ``external`` method reads back:
``<out>/<source>/<task>/dpc_<D>/dataset_<seed>.jsonl`` and ``.../dataset_<seed>.hf/`` (save_to_disk). The sets of a
seeded method's later fits (``n_fits``) go to a source of their own, ``<source>-fit<k>``. ``<task>`` is the task's
declared name (a custom task's ``name``), with a short digest of its data when two exported tasks share that name;
a file that already holds another cell's set is never overwritten (exit 2, before anything is written)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from benchmark.core.errors import UsageError
from benchmark.core.names import safe_name
from benchmark.study.store import Store


def source_name(method: dict) -> str:
    """A folder name per (method, params): the name, plus a short hash of non-default params."""
    if not method["params"]:
        return method["name"]
    digest = hashlib.sha256(json.dumps(method["params"], sort_keys=True).encode()).hexdigest()[:8]
    return f"{method['name']}-{digest}"


def declared_name(record: dict) -> str:
    """The task's own name (a custom task's ``name``; the record names a task scored on validation
    "<name> (validation)")."""
    task = record["task"]
    score_on = task["params"].get("score_on", "test")
    return task["name"] if score_on == "test" else task["name"].removesuffix(f" ({score_on})")


def task_identity(record: dict) -> str:
    """A short digest of what the task is (its parameters but a spec's path, and its splits' checksums): two specs
    with one name and other data differ in it; one spec at two paths does not."""
    task = record["task"]
    params = {k: v for k, v in task["params"].items() if k != "spec"}
    return hashlib.sha256(json.dumps({"params": params, "splits": task["split_checksums"]},
                                     sort_keys=True).encode()).hexdigest()[:8]


def export_sets(runs_dir: Path, out_dir: Path, methods: list[str] | None = None,
                tasks: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Write every matching finished text set (``tasks``: declared names, or registry names such as ``custom``);
    returns the JSONL files written and, for each matching set left out, why (embedding-level sets are tensors of one
    model, not text; the Full-data set is the train split). Every target is checked before the first is written."""
    from datasets import Dataset

    from methods.base import DistilledSet

    store = Store(runs_dir)
    chosen, skipped = [], []
    for record in store.done_records("distill"):
        config = record["config"]
        names = {declared_name(record), record["task"]["name"], config["task"]["name"]}
        if methods and config["method"]["name"] not in methods or tasks and not names & set(tasks):
            continue
        if record.get("distilled", {}).get("kind", "text") != "text":
            skipped.append(f"{record['cell_id']}: an embedding-level set (tensors of one model), not text")
        elif config["dpc"] is None:
            skipped.append(f"{record['cell_id']}: the Full-data reference is the task's train split, not a set")
        else:
            chosen.append(record)
    identities: dict[str, set] = {}
    for record in chosen:
        identities.setdefault(declared_name(record), set()).add(task_identity(record))
    planned: dict[Path, dict] = {}
    for record in chosen:
        config, where = record["config"], f"distill record {store.cell_dir('distill', record['cell_id'])}"
        name = safe_name(declared_name(record), "task name", where)
        task_folder = name if len(identities[name]) == 1 else f"{name}-{task_identity(record)}"
        source = safe_name(config["method"]["name"], "method name", where)
        fit = config["fit_seed"]
        folder = (out_dir / (source_name({**config["method"], "name": source}) + (f"-fit{fit}" if fit else ""))
                  / task_folder / f"dpc_{config['dpc']}")
        target = folder / f"dataset_{config['set_seed']}.jsonl"
        if target in planned:
            raise UsageError(f"export: cells {planned[target]['cell_id']} and {record['cell_id']} would both write "
                             f"{target}; pass --tasks or --methods to export one of them")
        _check_not_another(target, record["cell_id"])
        planned[target] = record
    written = []
    for target, record in planned.items():
        config, folder = record["config"], target.parent
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.cell_dir("distill", record["cell_id"]) / DistilledSet.ROWS, target)
        rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        hf_folder = folder / f"dataset_{config['set_seed']}.hf"
        shutil.rmtree(hf_folder, ignore_errors=True)
        Dataset.from_list(rows).save_to_disk(str(hf_folder))
        _provenance(target).write_text(
            json.dumps({"cell_id": record["cell_id"], "task": declared_name(record), "config": config,
                        "code_version": record["code_version"]}, indent=2), encoding="utf-8")
        written.append(target)
    return written, skipped


def _provenance(target: Path) -> Path:
    return target.with_name(target.name.removesuffix(".jsonl") + ".provenance.json")


def _check_not_another(target: Path, cell_id: str) -> None:
    """UsageError when ``target`` exists and holds another cell's set (or one whose origin is unknown): an export
    replaces only what an export of the same cell wrote."""
    if not target.exists():
        return
    try:
        holder = json.loads(_provenance(target).read_text(encoding="utf-8"))["cell_id"]
    except (OSError, ValueError, KeyError, TypeError):
        holder = None
    if holder != cell_id:
        raise UsageError(f"export: {target} already holds " + (f"the set of cell {holder}" if holder else
                         "a set of unknown origin (no provenance file beside it)") + f", not cell {cell_id}'s; "
                         f"export to another --out, or remove that file first")
