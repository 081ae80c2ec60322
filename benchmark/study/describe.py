"""What a record says about its method and learner, taken from the registries when the cell runs, so that the
report reads records only: row and column labels, the reference flags (baseline, upper bound), the kind of set, the citation, the learner's
family, the kinds of set it accepts and the embedding spaces that decide which pairs can run."""
from __future__ import annotations

import functools
import json

from benchmark.core.labels import component_label


def describe(config: dict) -> dict:
    """``described`` of a cell's record: its method, and its learner for an evaluate cell."""
    out = {"method": describe_method(config["method"]["name"], config["method"]["params"])}
    if "learner" in config:
        out["learner"] = describe_learner(config["learner"]["name"], config["learner"]["params"])
    return out


def describe_method(name: str, params: dict) -> dict:
    return json.loads(_method(name, json.dumps(params, sort_keys=True)))


def describe_learner(name: str, params: dict) -> dict:
    return json.loads(_learner(name, json.dumps(params, sort_keys=True)))


@functools.lru_cache(maxsize=None)
def _method(name: str, params_json: str) -> str:
    from methods import METHODS

    params, cls = json.loads(params_json), METHODS.get(name)
    method = cls(**params)  # constructors only store hyper-parameters
    return json.dumps({"label": component_label(name, params, method.display_name), "reference": bool(cls.reference),
                       "baseline": bool(cls.baseline), "upper_bound": bool(cls.upper_bound),
                       "kind": cls.kind, "citation": (cls.CARD.citation if cls.CARD else None) or None,
                       "embedding_space": getattr(method, "embedding_space", None) if cls.kind == "embedding" else None})


@functools.lru_cache(maxsize=None)
def _learner(name: str, params_json: str) -> str:
    from benchmark.learners import LEARNERS

    params, cls = json.loads(params_json), LEARNERS.get(name)
    learner = cls(**params)
    return json.dumps({"label": component_label(name, params), "family": cls.family, "accepts": list(cls.accepts),
                       "embedding_space": learner.embedding_space})


def projections() -> dict[str, list[str]]:
    """Method name -> the registered text methods whose sets are its sets mapped to text (``projection_of``, e.g.
    tdd -> [tdd-text]): the report shows them on the embedding-level set's page."""
    from methods import METHODS

    out: dict[str, list[str]] = {}
    for name in METHODS.names():
        source = getattr(METHODS.get(name), "projection_of", None)
        if source:
            out.setdefault(source, []).append(name)
    return out
