"""The package's layers, checked on its source: no import cycle, and no
import from a lower layer up to a higher one (see the README's "How a run
flows"). Imports under ``if TYPE_CHECKING:`` do not run and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "genbench"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("genbench.cli", "genbench.__main__"),
    ("genbench.report",),
    ("genbench.testing",),
    ("genbench.run",),
    ("genbench.records",),
    ("genbench.registry", "genbench.plugins", "genbench.hookspecs"),
    ("genbench.tasks",),
    ("genbench.features",),
    ("genbench.metrics",),
    (
        "genbench.checkpoints",
        "genbench.specs",
        "genbench.hashing",
        "genbench.defaults",
        "genbench",
    ),
)
"""Highest first: a module may import from its own layer and those below."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    matches = [
        (len(prefix), index)
        for index, layer in enumerate(LAYERS)
        for prefix in layer
        if module == prefix or module.startswith(prefix + ".")
    ]
    if not matches:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")
    return max(matches)[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """genbench modules imported by ``path`` when it runs (module-level and
    inside functions; not under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "genbench")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "genbench"
        ):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _is_module(candidate) else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (
        PACKAGE / relative / "__init__.py"
    ).is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_layer():
    for module in _graph():
        _layer(module)


def test_imports_only_point_down_the_layers():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) < _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    # a package's __init__ re-exporting its own modules is not a cycle
    edges = {
        module: {t for t in targets if t in graph and not _is_parent_package(module, t)}
        for module, targets in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


def _is_parent_package(module: str, target: str) -> bool:
    """True when ``module`` is the package ``target`` lives in."""
    return target.startswith(module + ".")


def test_the_checker_sees_an_upward_import(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from genbench.run.harness import run_cell\n"
        "if TYPE_CHECKING:\n    from genbench.cli import main\n"
    )
    assert _imports(source) == {"genbench.run.harness"}
    assert _layer("genbench.run.harness") < _layer("genbench.metrics.frechet")
