"""A small generic registry (tasks, learners, methods) with did-you-mean lookups and plugins.

In-tree entries register with a decorator; third-party packages register through a Python
entry-point group (e.g. ``dilm_bench.methods``) and need no edit of this repository; and the ``.py`` files of
the folders in ``$DILM_BENCH_PLUGINS`` (``--plugins DIR``) are imported, so a method is tried without installing
anything into a shared environment.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from pathlib import Path
from importlib import metadata
from typing import Callable, Generic, Iterable, TypeVar

from benchmark.core.errors import UsageError
from benchmark.core.names import RULE, unsafe

T = TypeVar("T")


def init_parameters(cls) -> list[inspect.Parameter]:
    """The named parameters of a class's constructor: its hyper-parameters (scikit-learn style)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self" and p.kind in named]


def expected_type(parameter: inspect.Parameter) -> type | None:
    """The type a hyper-parameter takes: its default's, else the one its annotation names (bool, int, float, str)."""
    if parameter.default not in (None, inspect.Parameter.empty):
        return type(parameter.default)
    annotation = parameter.annotation if isinstance(parameter.annotation, str) else getattr(
        parameter.annotation, "__name__", "")
    for kind in (bool, int, float, str):
        if kind.__name__ in str(annotation).replace("|", " ").split():
            return kind
    return None


def checked_params(cls, params: dict, where: str) -> dict:
    """``params`` for ``cls``'s constructor, checked against its signature: an unknown name gets a did-you-mean; a
    number written as text (``lr: 1e-4``, which YAML reads as a string) becomes the number; any other value of the
    wrong type is an error naming the key and the fix. Raises UsageError (imported lazily: the core stays free)."""
    from benchmark.core.errors import UsageError

    accepted = {p.name: p for p in init_parameters(cls)}
    out = {}
    for key, value in params.items():
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=2)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise UsageError(f"{where}: unknown parameter {key!r}.{hint} Parameters: {', '.join(sorted(accepted))}")
        out[key] = _coerced(value, expected_type(accepted[key]), f"{where}: parameter {key!r}")
        rule = getattr(cls, "PARAM_RANGES", {}).get(key)
        if rule is not None and out[key] is not None and not within(out[key], rule):
            allowed = (f"be one of {', '.join(map(repr, rule))}" if isinstance(rule, tuple)
                       else f"satisfy {' '.join(key if part == 'x' else part for part in rule.split())}")
            raise UsageError(f"{where}: parameter {key!r} must {allowed}, got {out[key]!r}; change it in the grid "
                             f"(`python -m benchmark list --details` shows the defaults)")
    return out


def within(value, rule) -> bool:
    """Whether ``value`` meets a declared range: a tuple of the allowed values, or a bound written ``x > 0``,
    ``x >= 1`` or ``0 <= x <= 1`` (a class's ``PARAM_RANGES``, declared beside its constructor's types)."""
    import operator

    if isinstance(rule, tuple):
        return value in rule
    ops = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
    parts = rule.split()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # NaN is in no range
        return False
    if len(parts) == 3:  # x > 0
        return ops[parts[1]](value, float(parts[2]))
    low, op_low, _, op_high, high = parts  # 0 <= x <= 1
    return ops[op_low](float(low), value) and ops[op_high](value, float(high))


def without_defaults(cls, params: dict) -> dict:
    """``params`` less those equal to the constructor's default: a component's canonical form, so that writing a
    default out (``{name: minilm, params: {steps: 200}}``) names the same cells as leaving it unset."""
    defaults = {p.name: p.default for p in init_parameters(cls)}
    return {k: v for k, v in params.items()
            if k not in defaults or defaults[k] is inspect.Parameter.empty or not _same(v, defaults[k])}


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                            and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _coerced(value, kind: type | None, where: str):
    from benchmark.core.errors import UsageError

    if kind is None or value is None or kind is str and isinstance(value, str):
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise UsageError(f"{where} must be true or false, got {value!r}")
    if kind in (int, float) and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"{where} must be a number, got {value!r}") from None
        value = int(number) if kind is int and number.is_integer() else number
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str:
        raise UsageError(f"{where} must be text, got {value!r}; quote it in YAML")
    raise UsageError(f"{where} must be {'a whole number' if kind is int else 'a number'}, got {value!r}")


def constructor_params(obj) -> dict:
    """The hyper-parameters of an object whose constructor stores each one under its own name."""
    return {p.name: getattr(obj, p.name) for p in init_parameters(type(obj))}


PLUGINS_ENV = "DILM_BENCH_PLUGINS"  # folders (os.pathsep-separated) whose .py files register tasks, methods, learners
_plugin_scan: dict = {"env": None, "imported": {}}  # the value last scanned; file -> its module name
_importing: list[str] = []  # the plugin file being imported (its registrations are marked as its)


def import_plugin_folders() -> None:
    """Import, once each, the ``.py`` files (not starting with ``_``) of the folders named in ``$DILM_BENCH_PLUGINS``,
    so that the entries they ``@register`` exist. A missing folder, or a file that fails to import, is a UsageError
    naming it."""
    value = os.environ.get(PLUGINS_ENV, "")
    if value == _plugin_scan["env"]:
        return
    for folder in filter(None, value.split(os.pathsep)):
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise UsageError(f"{PLUGINS_ENV}: no folder {folder}; name folders of .py files that register methods, "
                             f"tasks or learners (e.g. --plugins my-plugins)")
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_") or str(path) in _plugin_scan["imported"]:
                continue
            name = f"dilm_bench_plugins.{path.stem.replace('-', '_')}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            _plugin_scan["imported"][str(path)] = name
            _importing.append(str(path))
            try:
                spec.loader.exec_module(module)
            except UsageError:
                raise
            except Exception as exc:
                del sys.modules[name]
                raise UsageError(f"plugin file {path}: {type(exc).__name__}: {exc}") from exc
            finally:
                _importing.pop()
    _plugin_scan["env"] = value  # scanned whole: not again until the variable changes


class UnknownNameError(UsageError, KeyError):
    """An unknown registry name; the message lists close matches and the known names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class Registry(Generic[T]):
    """Maps names to factories (classes or callables returning an object of the registry's kind).

    ``builtin_modules`` are imported on first use so that their ``@register`` decorators run
    (``"package.*"`` imports every module of a package, so a new file there registers itself);
    ``entry_point_group`` names the plugin group whose entry points resolve to factories.
    """

    def __init__(self, kind: str, builtin_modules: Iterable[str] = (), entry_point_group: str | None = None):
        self.kind = kind
        self._builtin_modules = tuple(builtin_modules)
        self._entry_point_group = entry_point_group
        self._entries: dict[str, Callable[..., T]] = {}
        self._sources: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, *, source: str = "builtin") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name``; a name can be registered once."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            why = unsafe(name)
            if why is not None:  # registry names become folder names (cell ids, caches, exports)
                raise ValueError(f"{self.kind} {name!r} ({source}) cannot be registered: {why}; {RULE}")
            if name in self._entries and self._entries[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered (by {self._sources[name]})")
            self._entries[name] = factory
            self._sources[name] = f"plugin file {_importing[-1]}" if source == "builtin" and _importing else source
            factory.registry_name = name
            return factory

        return decorator

    def _load(self) -> None:
        if self._loaded:
            import_plugin_folders()  # a folder named after the registries loaded (tests; --plugins)
            return
        self._loaded = True
        for module in self._builtin_modules:
            if module.endswith(".*"):
                package = importlib.import_module(module[:-2])
                for info in pkgutil.iter_modules(package.__path__):
                    importlib.import_module(f"{package.__name__}.{info.name}")
            else:
                importlib.import_module(module)
        if self._entry_point_group:
            for ep in metadata.entry_points(group=self._entry_point_group):
                if ep.name in self._entries:
                    continue
                self.register(ep.name, source=f"plugin {ep.value}")(ep.load())
        import_plugin_folders()

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; an unknown name raises with did-you-mean."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def create(self, name: str, **params) -> T:
        """Instantiate the entry ``name`` with hyper-parameters ``params``."""
        return self.get(name)(**params)

    def source(self, name: str) -> str:
        """Where an entry came from: ``builtin`` or ``plugin module:attr``."""
        self.get(name)
        return self._sources[name]

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return (f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(self._entries))}. "
                f"(`python -m benchmark list` shows them all.)")
