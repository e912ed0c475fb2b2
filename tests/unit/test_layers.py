"""The import graph of the project's own code: layers that only point down, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from training_export.paths import REPO_ROOT

PACKAGES = ("credit_risk", "model_store", "serving", "training_export", "batch_scoring")
# Who may not import whom (a module name and its prefix-matches): the model core knows no
# serving, the records know no HTTP, nothing below the wiring imports the wiring.
FORBIDDEN = {
    "credit_risk": ("model_store", "serving", "training_export", "batch_scoring", "service"),
    "model_store": ("serving", "batch_scoring", "service"),
    "serving.records": ("serving.http", "serving.scoring", "service"),
    "serving.ids": ("serving.http", "serving.records"),
    "serving": ("service", "training_export", "batch_scoring", "benchmarks"),
}


def _module(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    files = [REPO_ROOT / "service.py"] + [
        p for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py")
    ]
    modules = {_module(p): p for p in files if "migrations" not in p.parts}
    return {
        name: {imported for imported in _imports(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_one_above_it(layer: str) -> None:
    graph = _graph()
    wrong = sorted(
        f"{name} imports {imported}"
        for name, imports in graph.items()
        if _within(name, layer)
        for imported in imports
        if any(_within(imported, above) for above in FORBIDDEN[layer])
    )
    assert wrong == []


def test_the_import_graph_has_no_cycles() -> None:
    graph = _graph()
    assert {"serving.scoring", "serving.http.stack"} <= graph["service"]  # the graph is read
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail(" -> ".join(cycle))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
