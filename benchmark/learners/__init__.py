"""The learner registry: models trained on a distilled set and scored on the test split.

``LEARNERS.create("minilm", steps=50)`` builds a learner with a recipe; plugins use ``dilm_bench.learners``.
"""
from benchmark.registry import Registry

LEARNERS = Registry("learner", builtin_modules=["benchmark.learners.*"],
                    entry_point_group="dilm_bench.learners")
