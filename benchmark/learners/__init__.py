"""The learner registry: models trained on a distilled set and scored on the test split.

``LEARNERS.create("minilm", steps=50)`` builds a learner with a recipe; plugins use ``dilm_bench.learners``.
"""
from benchmark.core.registry import Registry

# The modules that register learners, by name: ``stacked`` (torch at import) stays unloaded until a stack trains.
LEARNERS = Registry("learner", builtin_modules=[f"benchmark.learners.{m}" for m in
                                                ("transformer", "tfidf", "bag_of_ngrams", "icl")],
                    entry_point_group="dilm_bench.learners")
