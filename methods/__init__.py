"""Every distillation/selection method behind one interface (``methods.base.Method``), by name.

``METHODS.create("random")`` builds a method; third-party packages register through the
``dilm_bench.methods`` entry-point group without editing this repository.
"""
from benchmark.registry import Registry

METHODS = Registry("method", builtin_modules=["methods.full", "methods.random_subset", "methods.coresets"],
                   entry_point_group="dilm_bench.methods")
