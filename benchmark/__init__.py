"""dilm-bench: the harness for text dataset distillation (tasks, learners, protocol, cells, store, report)."""
