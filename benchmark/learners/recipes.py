"""Training recipes per learner family: the defaults every learner of a family shares, and grid overrides.

A learner's recipe is its constructor's hyper-parameters (stored in every evaluate record). The family
defaults below are those constructors' defaults, listed in one place; a grid's ``recipes`` key overrides
them for every learner of a family at once, e.g. ``recipes: {fine-tuned: {steps: 100, lr: 5e-5}}``;
a parameter set on one learner entry wins over the family's.
"""
from __future__ import annotations

from benchmark.core.errors import UsageError
from benchmark.core.registry import init_parameters

FAMILIES = {
    "fine-tuned": "pretrained encoder/decoder + fresh head; the DiLM paper's evaluation recipe (200 steps, batch "
                  "min(64, |D|), AdamW 1e-4, wd 0.01, cosine with 50% warmup, clip 1.0, max length 64)",
    "from-scratch": "a small network trained from random initialisation (bag of n-grams)",
    "non-neural": "TF-IDF features + logistic regression",
}


def family_defaults(family: str) -> dict:
    """The recipe defaults shared by the registered learners of ``family`` (constructor defaults, minus the
    model id)."""
    from benchmark.learners import LEARNERS

    defaults: dict = {}
    for name in LEARNERS.names():
        cls = LEARNERS.get(name)
        if cls.family == family:
            for p in init_parameters(cls):
                if p.name != "model":
                    defaults.setdefault(p.name, p.default)
    return defaults


def apply_recipes(learner_name: str, params: dict, recipes: dict, source: str) -> dict:
    """``params`` of one grid learner with its family's overrides from ``recipes`` filled in; a recipe key that
    no learner of the family takes is an error naming the grid file and the key."""
    from benchmark.learners import LEARNERS

    cls = LEARNERS.get(learner_name)
    overrides = recipes.get(cls.family) or {}
    accepted = {p.name for p in init_parameters(cls)}
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise UsageError(f"grid {source}: recipes.{cls.family}: {', '.join(unknown)} is not a recipe parameter of "
                         f"learner {learner_name!r}; its parameters: {', '.join(sorted(accepted))}")
    return {**overrides, **params}


def check_recipes(recipes, source: str) -> dict:
    if recipes is None:
        return {}
    if not isinstance(recipes, dict) or not all(isinstance(v, dict) for v in recipes.values()):
        raise UsageError(f"grid {source}: key 'recipes' must map a learner family to a mapping of recipe "
                         f"parameters, e.g. recipes: {{fine-tuned: {{steps: 100}}}}")
    unknown = sorted(set(recipes) - set(FAMILIES))
    if unknown:
        raise UsageError(f"grid {source}: recipes: unknown learner family {', '.join(map(repr, unknown))}; "
                         f"families: {', '.join(FAMILIES)}")
    return recipes
