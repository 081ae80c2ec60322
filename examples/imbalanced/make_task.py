"""Make an imbalanced custom task from an offline one: every example of the other classes, a seeded fraction of one
class. Writes ``<out>/<task>-<label><percent>.jsonl`` and its task spec (macro-F1) beside it; the data stay out of
the repository (the source dataset's licence applies).

    python examples/imbalanced/make_task.py --task rt-polarity --label positive --fraction 0.05 --out runs/tasks
    python -m benchmark run --grid examples/grids/imbalanced-full-vs-random.yaml   # reads runs/tasks/ from there
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmark.tasks import load_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rt-polarity")
    parser.add_argument("--label", default="positive", help="the class to keep a fraction of")
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/tasks"))
    args = parser.parse_args()
    task = load_task(args.task)
    if args.label not in task.label_names:
        parser.error(f"--label {args.label!r} is not a class of {args.task}: {', '.join(task.label_names)}")
    minority = task.label_names.index(args.label)
    splits = (task.splits.train, task.splits.validation, task.splits.test)
    texts = [t for split in splits for t in split.texts]
    labels = np.concatenate([split.labels for split in splits])
    rng = np.random.default_rng(args.seed)
    pool = np.flatnonzero(labels == minority)
    kept = set(rng.choice(pool, max(1, round(args.fraction * len(pool))), replace=False).tolist())
    rows = [i for i in range(len(texts)) if labels[i] != minority or i in kept]
    name = f"{args.task}-{args.label}{round(100 * args.fraction)}"
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for i in rows:
            f.write(json.dumps({**dict(zip(task.text_fields, texts[i])), "label": task.label_names[labels[i]]}) + "\n")
    spec = {"name": name, "path": f"{name}.jsonl", "text_fields": list(task.text_fields), "label_field": "label",
            "label_names": list(task.label_names), "metric": "macro_f1"}
    (args.out / f"{name}.yaml").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    share = sum(labels[i] == minority for i in rows) / len(rows)
    print(f"wrote {args.out / (name + '.yaml')}: {len(rows)} examples, {100 * share:.1f}% {args.label!r}")


if __name__ == "__main__":
    main()
