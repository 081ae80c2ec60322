"""The generic registry: registration, listing, did-you-mean errors, duplicates, entry-point plugins."""
import sys
import textwrap

import pytest

from benchmark.core.errors import UsageError
from benchmark.core.registry import Registry, UnknownNameError


def test_register_list_get_and_create():
    reg = Registry("widget")

    @reg.register("b-widget")
    class B:
        def __init__(self, size=1):
            self.size = size

    @reg.register("a-widget")
    def make_a():
        return "a"

    assert reg.names() == ["a-widget", "b-widget"]
    assert reg.get("b-widget") is B
    assert reg.create("b-widget", size=3).size == 3
    assert reg.create("a-widget") == "a"
    assert "a-widget" in reg and "c-widget" not in reg
    assert B.registry_name == "b-widget"
    assert reg.source("a-widget") == "builtin"


def test_unknown_name_says_did_you_mean_and_is_a_usage_error():
    reg = Registry("method")
    for name in ("random", "herding", "kmeans-centers"):
        reg.register(name)(type(name, (), {}))
    with pytest.raises(UnknownNameError) as info:
        reg.get("randon")
    message = str(info.value)
    assert "unknown method 'randon'" in message
    assert "Did you mean 'random'?" in message
    assert "herding, kmeans-centers, random" in message
    assert isinstance(info.value, UsageError) and isinstance(info.value, KeyError)
    with pytest.raises(UnknownNameError) as info:
        reg.get("zzzzzz")
    assert "Did you mean" not in str(info.value)


def test_registering_a_name_twice_fails():
    reg = Registry("task")
    reg.register("x")(type("X", (), {}))
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(type("Y", (), {}))


def test_builtin_modules_are_imported_lazily():
    from methods import METHODS

    assert {"full", "random"} <= set(METHODS.names())


def test_every_learner_module_that_registers_is_in_the_learner_registry_list():
    """Learner modules are listed by name (so the stacked trainer's torch import waits until a stack trains):
    a new module that registers a learner must be in the list, and listing them must not load ``stacked``."""
    import subprocess
    import sys
    from pathlib import Path

    from benchmark.learners import LEARNERS

    folder = Path(__file__).parent.parent / "benchmark" / "learners"
    registering = {f"benchmark.learners.{p.stem}" for p in folder.glob("*.py")
                   if "LEARNERS.register" in p.read_text(encoding="utf-8")}
    assert registering == set(LEARNERS._builtin_modules)
    code = ("import sys; from benchmark.learners import LEARNERS; LEARNERS.names(); "
            "print('torch' in sys.modules, 'benchmark.learners.stacked' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]


def test_entry_point_plugins_register_without_editing_the_repo(tmp_path, monkeypatch):
    """A real installed distribution (a dist-info folder on sys.path) declares an entry point."""
    package = tmp_path / "my_plugin_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        class MyMethod:
            """A plugin method."""
    '''))
    dist = tmp_path / "my_plugin_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[dilm_bench.test_plugins]\nmy-method = my_plugin_pkg:MyMethod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("method", entry_point_group="dilm_bench.test_plugins")
    assert reg.names() == ["my-method"]
    assert reg.get("my-method").__doc__ == "A plugin method."
    assert reg.source("my-method") == "plugin my_plugin_pkg:MyMethod"
    sys.modules.pop("my_plugin_pkg", None)
