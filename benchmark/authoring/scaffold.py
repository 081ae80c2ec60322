"""``python -m benchmark new-method NAME``: a working method file, its card and its test, from templates,
either in this repository (``methods/``, found automatically) or as a plugin package folder."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from benchmark.core.errors import UsageError

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _render(template: str, **values: str) -> str:
    return Template(resources.files("benchmark.authoring.templates").joinpath(template).read_text(encoding="utf-8")).substitute(values)


def repository_root() -> Path:
    """The checkout this package runs from (where ``methods/`` and ``tests/`` live), if it is one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists() or not (root / "methods").is_dir():
        raise UsageError("dilm-bench is not installed from a checkout (no methods/ beside it); "
                         "use `new-method NAME --package DIR` to make a plugin package instead")
    return root


def scaffold(name: str, package_dir: Path | None = None, force: bool = False) -> list[Path]:
    """Write the files of a new method; returns their paths. Nothing is written if any check fails."""
    from methods import METHODS

    if not NAME.match(name):
        raise UsageError(f"method name {name!r}: use lower-case letters, digits and single hyphens, e.g. 'my-method'")
    if name in METHODS:
        raise UsageError(f"a method named {name!r} is already registered ({METHODS.source(name)}); pick another name")
    module = name.replace("-", "_")
    values = {"name": name, "module": module, "class_name": "".join(p.capitalize() for p in name.split("-"))}
    if package_dir is None:
        root = repository_root()
        files = {
            root / "methods" / f"{module}.py": _render("method.py.tmpl", **values, import_registry="from methods import METHODS",
                                                       register_line=f'@METHODS.register("{name}")'),
            root / "tests" / f"test_method_{module}.py": _render("test_method.py.tmpl", **values,
                                                                 module_path=f"methods.{module}"),
        }
    else:
        package = f"dilm_bench_{module}"
        values.update(package=package, distribution=f"dilm-bench-{name}")
        files = {
            package_dir / "pyproject.toml": _render("pyproject.toml.tmpl", **values),
            package_dir / "README.md": _render("README.md.tmpl", **values),
            package_dir / package / "__init__.py": f'"""The {name} method for dilm-bench."""\n',
            package_dir / package / f"{module}.py": _render(
                "method.py.tmpl", **values, import_registry="",
                register_line="# registered by the entry point in pyproject.toml"),
            package_dir / "tests" / f"test_{module}.py": _render("test_method.py.tmpl", **values,
                                                               module_path=f"{package}.{module}"),
        }
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        raise UsageError(f"would overwrite {', '.join(existing)}; remove them or pass --force")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("\n\n\n\n", "\n\n\n"), encoding="utf-8")
    return list(files)
