"""The package's shape: no import cycles, and no import from a lower layer to a higher one.

A small AST check over every module of ``bot/`` (nothing is imported). Every ``import`` counts,
at module level or inside a function, so a cycle cannot hide behind a deferred import. Imports
under ``if TYPE_CHECKING:`` never run: they are left out of the cycle check (a type-only
reference back, like ``bot.paths`` naming ``Settings``, is not a cycle) but not out of the
layer check (a low module must not even name a higher layer's types).

Layers, low to high (a module may import its own layer and any lower one):

=========== ==============================================================================
core        errors, paths, settings, types, and ``bot.text.latex`` (dependency-free;
            ``Citation.display`` in types uses it)
text        text, storage (SQLite files: sessions, cache)
index       index (embeddings, store, BM25, journal, reconcile, doctor)
ingest      ingest (readers, pipeline, library, fetch, export/import)
retrieve    retrieve
llm         llm
ground      ground
generate    generate
api         ``bot.api`` (:class:`bot.PaperBot`)
render      render
apps        server, cli, evaluation, training, ``bot.__main__``, and the package ``bot``
            itself (its ``__init__`` re-exports the public API lazily; nothing in ``bot/``
            imports from it: ``from bot import paths`` imports the module ``bot.paths``)
=========== ==============================================================================
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bot"

LAYERS: list[tuple[str, ...]] = [
    ("bot.errors", "bot.paths", "bot.settings", "bot.types", "bot.text.latex"),
    ("bot.text", "bot.storage"),
    ("bot.index",),
    ("bot.ingest",),
    ("bot.retrieve",),
    ("bot.llm",),
    ("bot.ground",),
    ("bot.generate",),
    ("bot.api",),
    ("bot.render",),
    ("bot.server", "bot.cli", "bot.evaluation", "bot.training", "bot.__main__", "bot"),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ``bot`` an imported name lives in (``bot.x.y.func`` -> ``bot.x.y``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module of bot, only under TYPE_CHECKING) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def add(name: str, typing_only: bool) -> None:
        owner = _owner(name)
        if owner is not None and owner != module:
            found.append((owner, typing_only))

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, typing_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                add(f"{base}.{alias.name}", typing_only)  # a submodule, or a name in base
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(tree, False)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def layer_of(module: str) -> int:
    """The layer index of ``module``: its most specific listed prefix decides."""
    best = (-1, -1)  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            # "bot" (the package's __init__) names itself only, not everything below it
            inside = prefix != "bot" and module.startswith(prefix + ".")
            if (module == prefix or inside) and len(prefix) > best[0]:
                best = (len(prefix), index)
    if best[1] < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[1]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_the_check_sees_the_package() -> None:
    # guards against a check that passes because it found nothing to check
    assert len(MODULES) > 80
    assert ("bot.generate.chat", False) in GRAPH["bot.api"]  # imported inside a method
    assert ("bot.settings", True) in GRAPH["bot.paths"]  # TYPE_CHECKING only


def test_find_cycles_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_cycles() -> None:
    graph = {m: {t for t, typing_only in edges if not typing_only} for m, edges in GRAPH.items()}
    assert find_cycles(graph) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_layer(module: str) -> None:
    mine = layer_of(module)
    upward = sorted({t for t, _ in GRAPH[module] if layer_of(t) > mine})
    assert upward == [], f"{module} (layer {mine}) imports higher layers: {upward}"


def test_nothing_imports_the_entry_points() -> None:
    # bot.cli.main loads every command module (by name, which the graph above cannot see), so
    # a command importing it would be a cycle: commands share bot.cli.app instead.
    entry_points = {"bot.cli.main", "bot.__main__"}
    importers = sorted(m for m, edges in GRAPH.items() if entry_points & {t for t, _ in edges})
    assert importers == ["bot.__main__"]  # python -m bot runs bot.cli.main:main
