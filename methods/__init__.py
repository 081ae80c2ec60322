"""Every distillation/selection method behind one interface (``methods.base.Method``), by name.

``METHODS.create("random")`` builds a method. Every module of this package is imported on first use,
so a new file here that registers with ``@METHODS.register`` is all an in-tree method needs;
third-party packages register through the ``dilm_bench.methods`` entry-point group.
"""
from benchmark.core.registry import Registry

METHODS = Registry("method", builtin_modules=["methods.*"], entry_point_group="dilm_bench.methods")
