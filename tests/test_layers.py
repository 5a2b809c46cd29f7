"""The package's imports point one way (README "How the code is laid out"; ARCHITECTURE.md).

Walks every module of ``gandiag/`` with ``ast`` and checks that each import (at any depth of the
module, except under ``if TYPE_CHECKING:``) goes to a module of the same layer or a lower one,
and that nothing in ``gandiag/`` imports ``reference_models`` or a command module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gandiag"

#: Lowest first. A module may import from its own layer or below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "schema", "defaults", "atomic", "_arrays", "_hashing", "_lazy", "tables", "threads", "timeouts"),  # small shared pieces
    ("references", "sample_files", "generators", "loading", "checkpoint", "network_build", "program_archive",
     "torchscript_loading", "digits_classifier", "architectures", "conditional_loading"),                       # where samples come from
    ("metrics", "features", "modes", "conditional"),                                      # estimators on arrays
    ("scoring", "figures"),                                                               # one row
    ("auditing", "gate", "compare"),                                                      # the jobs users run
    ("cli",),                                                                             # arguments and exit codes
)
FACADE = "__init__"  # gandiag/__init__.py: the public names, imported lazily from anywhere


def _top(module: str) -> str:
    """``gandiag.scoring.scorer`` -> ``scoring``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def _layer(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"gandiag/{top} is in no layer of tests/test_layers.py: add it to LAYERS")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else parts
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the module at ``path`` that runs."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    return _imports_of(path.read_text(), package)


def _imports_of(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``source`` (a module of ``package``) that runs."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                    if child.module is None:  # from . import x: x is a module, or a name of the package
                        folder = PACKAGE.parent.joinpath(*target.split("."))
                        found.extend((child.lineno, f"{target}.{a.name}" if (folder / a.name).is_dir()
                                      or (folder / f"{a.name}.py").exists() else target) for a in child.names)
                        continue
                else:
                    target = child.module or ""
                found.append((child.lineno, target))
            visit(child)

    visit(tree)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer():
    tops = {_top(_module_name(p)) for p in MODULES} - {FACADE}
    for top in tops:
        _layer(top)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path):
    name = _module_name(path)
    here = _top(name)
    wrong = []
    for line, target in _imports(path):
        if target.split(".")[0] == "reference_models":
            wrong.append(f"line {line}: imports {target} (gandiag never imports the trainers)")
        if not target.startswith("gandiag") or here == FACADE:
            continue
        there = _top(target)
        if there == FACADE:
            continue  # `from .. import __version__`: the facade's constants
        if there == "cli" and here != "cli":
            wrong.append(f"line {line}: imports the command module {target}")
        elif _layer(there) > _layer(here):
            wrong.append(f"line {line}: imports {target} (layer {_layer(there)}) from layer {_layer(here)}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


def test_the_walker_sees_upward_imports():
    """The check can fail: upward imports, also inside functions, are found; TYPE_CHECKING ones are not."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..auditing import Report\n"
              "def f():\n    from ..scoring import Scorer\n    import gandiag.cli\n")
    imports = _imports_of(source, "gandiag.metrics")
    assert imports == [(1, "typing"), (5, "gandiag.scoring"), (6, "gandiag.cli")]
    assert _layer(_top("gandiag.scoring")) > _layer("metrics")


def test_no_module_of_gandiag_names_reference_models():
    offenders = [str(p) for p in MODULES if "import reference_models" in p.read_text()
                 or "from reference_models" in p.read_text() or "import_module(\"reference_models" in p.read_text()]
    assert not offenders
