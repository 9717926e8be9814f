"""The shape of the package: no import cycles, no oversized modules, no reaching into private names.

These are the rules of docs/ARCHITECTURE.md that a test can check. Every import counts,
function-local ones included (and those under ``if TYPE_CHECKING``), so a cycle cannot hide
behind a lazy import. What does not count is a registry's lazy ``"module:attr"`` string
(nas/registry.py): that is how a low layer names a high-layer implementation without importing it.
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
            # `from nas import zoo` imports the module nas.zoo; the package itself only when a
            # name is not a submodule (importing a submodule runs its parents' __init__ either way,
            # which no `import a.b.c` edge counts either).
            targets = [f"{module}.{alias.name}" for alias in node.names]
            if any(t not in known for t in targets):
                targets.append(module)
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


# --- Layers: the package graph -------------------------------------------------------------
# A "package" is a first-level subpackage or top-level module of nas (nas.darts, nas.config_io),
# the root package `nas` itself (its __init__: the lazy API facade), and `search_spaces` (the
# compatibility alias of nas.search_spaces, above everything: nothing in the project imports it).
# Lower layers come first. A package may import its own layer or lower ones; imports within a
# layer are allowed because the layer is a group of peers (ops -> networks -> zoo), and
# test_no_package_cycles still forbids any cycle among them. A registry names a higher layer's
# implementation by a lazy "module:attr" string, which is not an import.
LAYERS: list[set[str]] = [
    # core: errors, registries, config files, run directories; no genotypes, networks or data
    {
        "nas.errors",
        "nas.limits",
        "nas.registry",
        "nas.config_io",
        "nas.device_defaults",
        "nas.kernels",
        "nas.metrics",
        "nas.runs",
        "nas.search_configs",
    },
    # plain genotypes and the tables keyed by them
    {"nas.genotypes", "nas.nb201_table", "nas.nb201_import"},
    # networks and data
    {"nas.ops", "nas.networks", "nas.zoo", "nas.data", "nas.proxies"},
    # search spaces and the search protocol (what a search job returns, where a study lives)
    {"nas.search_spaces", "nas.search_protocol"},
    # training and evaluation of one network, and the tools on trained runs
    {"nas.training", "nas.trainer", "nas.recipes", "nas.viz", "nas.tools"},
    # proposing genotypes
    {"nas.controllers", "nas.nb201_protocol"},
    # search engines
    {"nas.darts", "nas.tune"},
    # the search jobs: registry of engines, runner
    {"nas.search_jobs"},
    # the interfaces: Python API, command line
    {"nas.api", "nas.cli", "nas.commands", "nas", "search_spaces"},
]


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _package_imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the module imports ("a -> b") behind that edge."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, deps in _graph().items():
        for dep in sorted(deps):
            a, b = _package(name), _package(dep)
            if a != b:
                edges.setdefault((a, b), []).append(f"{name} -> {dep}")
    return edges


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {_package(name): set() for name in _modules()}
    for a, b in _package_imports():
        graph[a].add(b)
    return graph


def _layer_violations(edges: dict[tuple[str, str], list[str]], layers: list[set[str]]) -> list[str]:
    rank = {package: i for i, layer in enumerate(layers) for package in layer}
    return [
        f"{imp} imports a higher layer ({a} is layer {rank[a]}, {b} is layer {rank[b]})"
        for (a, b), imports in sorted(edges.items())
        if a in rank and b in rank and rank[b] > rank[a]
        for imp in imports
    ]


def test_the_package_graph_is_read() -> None:
    graph = _package_graph()
    assert {"nas", "nas.darts", "nas.config_io", "nas.search_spaces", "search_spaces"} <= set(graph)
    assert "nas.errors" in graph["nas.runs"]


def test_no_package_cycles() -> None:
    assert _cycles(_package_graph()) == []


def test_cycle_finder_finds_a_planted_package_cycle() -> None:
    graph = _package_graph()
    graph["nas.errors"] = graph["nas.errors"] | {"nas.cli"}  # errors -> cli -> errors
    assert any({"nas.errors", "nas.cli"} <= set(c) for c in _cycles(graph))


def test_every_package_is_in_one_layer() -> None:
    placed = [package for layer in LAYERS for package in layer]
    assert len(placed) == len(set(placed)), "a package is in two layers"
    unplaced = sorted(set(_package_graph()) - set(placed))
    assert unplaced == [], f"packages in no layer of LAYERS: {unplaced}"
    assert sorted(set(placed) - set(_package_graph())) == [], "LAYERS names a package that does not exist"


def test_imports_respect_the_layers() -> None:
    violations = _layer_violations(_package_imports(), LAYERS)
    assert violations == [], violations[0] + (f" (and {len(violations) - 1} more)" if len(violations) > 1 else "")


def test_the_layer_check_names_an_upward_import() -> None:
    edges = {("nas.errors", "nas.cli"): ["nas.errors -> nas.cli"], ("nas.cli", "nas.errors"): ["nas.cli -> nas.errors"]}
    assert _layer_violations(edges, [{"nas.errors"}, {"nas.cli"}]) == [
        "nas.errors -> nas.cli imports a higher layer (nas.errors is layer 0, nas.cli is layer 1)"
    ]
