"""How well the pretrained generator conditions on a class prompt before any training (DiLM's stage 0): samples per
class for each prompt template, judged by the task's train-split TF-IDF judge (`benchmark judge`'s). Chooses
nothing on the test split: the task is scored on its validation split, as in dilm-levers-rt-polarity.yaml.

    python examples/dilm_prompt_probe.py results/dilm-levers-rt-polarity/prompt-probe.csv \
        '{label}: ' 'A {label} movie review: ' 'user\\nWrite one {label} sentence from a movie review.<|im_end|>\\n<|im_start|>assistant\\n'

A template is a Python format string with {label} (the task's label word); \\n in it is a newline, and SmolLM2's
chat tokens (<|im_end|>, <|im_start|>) are read as its special tokens (the generator prefixes <|im_start|>).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from benchmark.core.assets import resolve_model
from benchmark.study.fidelity import Judge
from benchmark.tasks import load_task
from dilm.generator import Generator


def probe(templates: list[str], generator: str, n: int, max_length: int, top_p: float, seed: int) -> pd.DataFrame:
    """One row per (template, class): the judge's on-label share of ``n`` samples, and the first sample."""
    task = load_task("rt-polarity", (("score_on", "validation"),))
    judge = Judge(task)
    rows = []
    for template in templates:
        prompts = tuple(template.format(label=word) for word in task.label_words)
        model = Generator.from_pretrained(resolve_model(generator), task.num_classes, False, "cpu", "label_name",
                                          tuple(task.label_names), prompts)
        for label in range(task.num_classes):
            t0 = time.perf_counter()
            texts, _ = model.sample_texts(label, n, max_length, top_p, seed + label, 20)
            on_label = float((judge.predict(texts) == label).mean())
            rows.append({"template": template, "label": task.label_names[label], "samples": n,
                         "on_label_share": round(on_label, 4), "judge_validation_accuracy":
                         round(judge.validation_accuracy, 4), "seconds": round(time.perf_counter() - t0, 1),
                         "first_sample": texts[0][0]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the CSV to write (a markdown table is printed)")
    parser.add_argument("templates", nargs="+", help="prompt templates with {label}")
    parser.add_argument("--generator", default="smollm2")
    parser.add_argument("--samples", type=int, default=32, help="samples per class and template")
    parser.add_argument("--max-length", type=int, default=64, help="generator tokens, prompt included")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    templates = [t.replace("\\n", "\n") for t in args.templates]
    table = probe(templates, args.generator, args.samples, args.max_length, 0.95, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    summary = table.pivot_table(index="template", columns="label", values="on_label_share", sort=False)
    summary["mean"] = summary.mean(axis=1)
    print(summary.mul(100).round(1).to_markdown())


if __name__ == "__main__":
    main()
