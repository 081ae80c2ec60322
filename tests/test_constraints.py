"""constraints.txt, the tested set `make setup` installs under: every line an exact pin for Python 3.11 that meets
pyproject.toml's bounds, and under CI (built by `make setup` on 3.11) exactly what is installed."""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import IN_CI

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, Requirement]:
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _version(pin: Requirement) -> str:
    (spec,) = pin.specifier
    return spec.version


def test_every_constraint_is_an_exact_pin_for_python_3_11_within_the_projects_bounds():
    pins = _pins()
    assert {"transformers", "datasets", "kernels"} <= set(pins)
    assert "torch" not in pins, "torch is chosen by `make setup TORCH=...` (CPU or a site's CUDA build)"
    for name, req in pins.items():
        (spec,) = req.specifier
        assert spec.operator == "==", f"{name}: {spec} is not an exact pin"
        assert str(req.marker) == 'python_version == "3.11"', f"{name}: pin without the 3.11 marker"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for bound in map(Requirement, project["dependencies"] + project["optional-dependencies"]["test"]):
        pin = pins.get(canonicalize_name(bound.name))
        if pin is not None:
            assert bound.specifier.contains(_version(pin), prereleases=True), f"{bound.name} {pin.specifier}, needs {bound}"


@pytest.mark.skipif(not IN_CI or sys.version_info[:2] != (3, 11), reason="only a `make setup` venv on 3.11 (CI) "
                    "is built under the constraints; `make setup CONSTRAINTS=` or another Python is not")
def test_the_ci_environment_is_the_constrained_set():
    installed = {name: (metadata.version(name), _version(pin)) for name, pin in _pins().items()}
    wrong = {name: versions for name, versions in installed.items() if versions[0] != versions[1]}
    assert wrong == {}, f"installed vs pinned: {wrong} (was `make setup` run without -c constraints.txt?)"
