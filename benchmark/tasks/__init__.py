"""The task registry: ``TASKS.create("rt-polarity")`` builds a task; plugins use ``dilm_bench.tasks``."""
from benchmark.core.registry import Registry

TASKS = Registry("task", builtin_modules=["benchmark.tasks.*"], entry_point_group="dilm_bench.tasks")


def load_task(name: str, params: tuple = ()):
    """The task ``name`` built with ``params`` (sorted key/value pairs), cached per process so its
    data are read and split once."""
    key = (name, tuple(params))
    if key not in _LOADED:
        _LOADED[key] = TASKS.create(name, **dict(params))
    return _LOADED[key]


_LOADED: dict = {}
