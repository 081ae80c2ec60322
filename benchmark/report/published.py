"""The DiLM paper's published numbers, kept as data with their source, shown as a separate reference block.

Source: Maekawa et al., "DiLM: Distilling Dataset into Language Model for Text-level Dataset
Distillation", Findings of NAACL 2024 (arXiv 2404.00264), main results table; BERT-base learner,
test accuracy in % (QQP: mean of accuracy and F1), mean ± std over 20 sets x 5 fine-tunes.
Transcribed by a third party; the paper is the authority.
"""
from __future__ import annotations

SOURCE = "Maekawa et al., Findings of NAACL 2024, BERT-base learner (published)"
LEARNER = "bert-base-uncased"

# method row -> task -> DPC -> (mean, std); Full dataset has one number per task (std unknown: None)
RESULTS: dict[str, dict[str, dict[int, tuple[float, float | None]]]] = {
    "Random": {"sst2": {5: (58.1, 5.2), 10: (64.3, 7.4), 20: (70.3, 6.8)},
               "qqp": {5: (51.5, 5.6), 10: (56.0, 4.8), 20: (59.1, 3.8)},
               "mnli": {5: (35.6, 2.1), 10: (37.7, 2.6), 20: (40.1, 3.2)}},
    "K-centers": {"sst2": {5: (70.8, 4.1), 10: (75.9, 4.7), 20: (79.8, 3.5)},
                  "qqp": {5: (60.7, 3.8), 10: (60.9, 3.1), 20: (62.6, 2.7)},
                  "mnli": {5: (36.2, 2.4), 10: (41.8, 3.2), 20: (45.3, 3.0)}},
    "Herding": {"sst2": {5: (70.2, 5.7), 10: (73.2, 5.7), 20: (76.9, 4.4)},
                "qqp": {5: (56.0, 5.6), 10: (59.7, 4.1), 20: (62.3, 3.4)},
                "mnli": {5: (36.2, 3.8), 10: (38.7, 3.7), 20: (42.8, 3.5)}},
    "Vanilla LM": {"sst2": {5: (65.2, 6.8), 10: (71.7, 6.8), 20: (77.6, 4.1)},
                   "qqp": {5: (56.7, 4.4), 10: (59.3, 3.8), 20: (62.5, 3.3)},
                   "mnli": {5: (36.3, 2.7), 10: (40.5, 2.9), 20: (43.6, 3.1)}},
    "DiLM": {"sst2": {5: (72.5, 5.9), 10: (76.3, 4.6), 20: (80.3, 2.8)},
             "qqp": {5: (58.8, 5.2), 10: (62.2, 3.3), 20: (64.4, 2.6)},
             "mnli": {5: (39.7, 2.7), 10: (44.8, 3.1), 20: (48.7, 2.6)}},
    "Full dataset": {"sst2": {0: (92.7, None)}, "qqp": {0: (89.6, None)}, "mnli": {0: (86.7, None)}},
}


def published(task: str, dpc: int) -> dict[str, tuple[float, float | None]]:
    """Row name -> (mean, std) of the paper for ``task`` at ``dpc`` (Full dataset at every DPC)."""
    rows = {}
    for method, by_task in RESULTS.items():
        values = by_task.get(task, {})
        if dpc in values or 0 in values:
            rows[method] = values.get(dpc, values.get(0))
    return rows
