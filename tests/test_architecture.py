"""The shape of the package: no import cycles, no oversized modules, no reaching into private names.

These are the rules of docs/ARCHITECTURE.md that a test can check. Every import counts,
function-local ones included, so a cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("nas", "search_spaces")
MAX_LINES = 500
#: A longer module states why in its docstring with these words.
LONG_REASON = "is longer than 500 lines because"


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for target in targets:
            # `from a.b import c`: the module a.b.c when it exists, else a.b
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_parent_package(a: str, b: str) -> bool:
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    assert "nas.cli" in graph and "nas.errors" in graph["nas.runs.atomic"]


def test_no_import_cycles() -> None:
    graph = _graph()
    # A package's __init__ importing its own submodules is the normal way to export names: not a cycle.
    pruned = {a: {b for b in deps if not _is_parent_package(a, b)} for a, deps in graph.items()}
    assert _cycles(pruned) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name,path", sorted(_modules().items()))
def test_modules_are_small_or_say_why(name: str, path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if lines > MAX_LINES:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert LONG_REASON in doc, f"{name}: {lines} lines; split it or say why in its docstring ('{LONG_REASON}')"


def test_no_module_imports_private_names_of_another_package() -> None:
    offenders = []
    modules = _modules()
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and not node.level
                and node.module.split(".")[0] in PACKAGES
            ):
                top = node.module.split(".")[:2]
                own = name.split(".")[:2]
                for alias in node.names:
                    if alias.name.startswith("_") and top != own:
                        offenders.append(f"{name}: from {node.module} import {alias.name}")
    assert offenders == []


def test_plain_types_import_nothing_of_nas_but_errors() -> None:
    graph = _graph()
    assert graph["nas.genotypes.types"] <= {"nas.errors", "nas.genotypes.vocab"}
    assert graph["nas.genotypes.vocab"] == set()  # names only
    assert graph["nas.genotypes.codec"] <= {"nas.errors", "nas.genotypes.types"}


def test_only_the_resolver_imports_the_named_catalogue() -> None:
    graph = _graph()
    importers = {
        name
        for name, deps in graph.items()
        if any(d == "nas.genotypes.named" or d.startswith("nas.genotypes.named.") for d in deps)
        and not name.startswith("nas.genotypes.named")
    }
    assert importers == {"nas.genotypes.resolve"}
