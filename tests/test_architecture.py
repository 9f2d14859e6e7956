"""The import-layer rule of docs/architecture.md, checked on the source.

Every module under src/assetcards is parsed with `ast`; every import at any depth (top level,
inside functions, under TYPE_CHECKING) becomes an edge, relative imports resolved. A module may
import only modules of its own or a lower layer, and no group of modules may import each other
in a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGE = "assetcards"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# Lowest first. A module's layer is that of the longest prefix listed here.
LAYERS: dict[str, int] = {
    # 1: the base modules, which know nothing of cards
    **dict.fromkeys((f"{PACKAGE}.{name}" for name in (
        "_version", "errors", "settings", "locations", "fsutil", "locks", "git")), 1),
    f"{PACKAGE}.card": 2,  # the card format
    f"{PACKAGE}.stores.state": 3,  # paths, state files and names of stores: all the read side sees
    f"{PACKAGE}.sources": 4,  # where cards come from, and the lookup API over them
    f"{PACKAGE}.stores": 5,  # the rest of the stores: checkout, sync, add/remove/pin, lock files
    f"{PACKAGE}.checks": 6,  # what to validate, and reporting it
    f"{PACKAGE}.checkpoints": 7,  # downloading checkpoints and loading models
    f"{PACKAGE}.cli": 8,  # the commands
    PACKAGE: 8,  # the public API (the package's __init__)
}


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules(root: Path = SRC) -> dict[str, Path]:
    """Every module of the package (the bundled `cards` directory holds no code)."""
    return {module_name(path): path for path in sorted(root.rglob("*.py"))
            if "cards" not in path.relative_to(root).parts[:1]}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None and (end > 1 or module == PACKAGE):
            return layer
    return None


def imported(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported module of the package, line) for every import in PATH, at any depth."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in known else target), node.lineno


def import_graph(modules: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}, for the modules of the package."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for target, line in imported(module, path, set(modules)):
            if target != module:
                edges.setdefault(target, line)
    return graph


def upward_imports(graph: Mapping[str, Mapping[str, int]],
                   modules: Mapping[str, Path]) -> list[str]:
    found = []
    for module, edges in sorted(graph.items()):
        for target, line in sorted(edges.items()):
            low, high = layer_of(module), layer_of(target)
            if low is None or high is None:
                continue  # reported by test_every_module_has_a_layer
            if high > low:
                found.append(f"{modules[module].relative_to(SRC.parent)}:{line}: {module} "
                             f"(layer {low}) imports {target} (layer {high})")
    return found


def cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    missing = [m for m in source_modules() if layer_of(m) is None]
    assert not missing, f"add these modules to LAYERS (and docs/architecture.md): {missing}"


def test_no_module_imports_a_higher_layer() -> None:
    modules = source_modules()
    found = upward_imports(import_graph(modules), modules)
    assert not found, "imports against the layer rule:\n" + "\n".join(found)


def test_no_import_cycles() -> None:
    graph = import_graph(source_modules())
    found = cycles(graph)
    detail = [" <-> ".join(component) + "\n    " + "\n    ".join(
        f"{a} -> {b} (line {graph[a][b]})" for a in component for b in component if b in graph[a])
        for component in found]
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_the_checker_sees_imports_at_any_depth(tmp_path: Path) -> None:
    """A planted upward import inside a function and a planted cycle are both found."""
    root = tmp_path / PACKAGE
    (root / "card").mkdir(parents=True)
    (root / "cli").mkdir()
    (root / "__init__.py").write_text("")
    (root / "errors.py").write_text("def f():\n    from .card import model\n")
    (root / "card" / "__init__.py").write_text("")
    (root / "card" / "model.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..cli import main\n"
        "from . import parse\n")
    (root / "card" / "parse.py").write_text("from assetcards.card import model\n")
    (root / "cli" / "__init__.py").write_text("")
    (root / "cli" / "main.py").write_text("import assetcards.errors\n")
    modules = {module_name_in(root, path): path for path in root.rglob("*.py")}
    graph = import_graph(modules)
    assert graph["assetcards.errors"] == {"assetcards.card.model": 2}
    assert graph["assetcards.card.model"] == {"assetcards.cli.main": 3,
                                              "assetcards.card.parse": 4}
    assert graph["assetcards.card.parse"] == {"assetcards.card.model": 1}
    upward = [(m, t) for m, edges in graph.items() for t in edges
              if (layer_of(t) or 0) > (layer_of(m) or 0)]
    assert sorted(upward) == [("assetcards.card.model", "assetcards.cli.main"),
                              ("assetcards.errors", "assetcards.card.model")]
    assert cycles(graph) == [["assetcards.card.model", "assetcards.card.parse",
                              "assetcards.cli.main", "assetcards.errors"]]


def module_name_in(root: Path, path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
