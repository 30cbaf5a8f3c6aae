"""No import cycles between the modules of ``zeroauth`` (DESIGN: cycles are removed, not hidden).

The graph is read with ``ast``, not by importing: every ``import`` counts, including those inside
functions and under ``if TYPE_CHECKING:`` (a cycle hidden that way is still a cycle). Relative
imports are resolved against the importing module's package; ``from pkg import name`` is an edge
to ``pkg.name`` when that is a module, else to ``pkg``. Importing ``a.b.c`` is an edge to
``a.b.c`` only (its parent packages are not counted: every package ``__init__`` re-exports its
submodules, which would make every package a cycle with its children).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

Graph = dict[str, dict[str, str]]  # importer -> {imported: "path:line"}

# Cycles that still exist: none. The mechanism stays: an entry is the exact set of modules of one
# strongly connected component; the test fails on any other cycle, on one of these growing, and
# on an entry that no longer exists. Cycles are removed by moving the shared types down a layer,
# as was done for core.client_info, cli.app, gateway.config_types and the devserver endpoints.
ALLOWED_CYCLES: frozenset[frozenset[str]] = frozenset()


def modules(src: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package ``__init__``) for every ``.py`` file of ``package``."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _imported_names(node: ast.AST, name: str, is_package: bool) -> Iterable[str]:
    """Dotted names ``node`` imports, relative imports resolved (candidates, longest first)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = name.split(".") if is_package else name.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
        for alias in node.names:
            yield f"{base}.{alias.name}"  # a submodule, when it is one; else falls back to base


def import_graph(src: Path, package: str = "zeroauth") -> Graph:
    known = modules(src, package)
    graph: Graph = {}
    for name, (path, is_package) in known.items():
        edges = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _imported_names(node, name, is_package):
                while target and target not in known:  # nearest module: pkg.name -> pkg
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.setdefault(target, f"{path.relative_to(src)}:{node.lineno}")
    return graph


def cycles(graph: Graph) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def describe(graph: Graph, component: frozenset[str]) -> str:
    """One concrete cycle through ``component``, each hop with the line that imports."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first, inside the component, back to start
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                cycle = [*paths[node], start]
                hops = [f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
                return "\n    ".join(hops)
            if child in component and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"not a cycle: {sorted(component)}")


def test_no_import_cycles_beyond_the_allow_list() -> None:
    graph = import_graph(SRC)
    new = [c for c in cycles(graph) if c not in ALLOWED_CYCLES]
    report = "\n".join(f"  {sorted(c)}:\n    {describe(graph, c)}" for c in new)
    assert not new, (
        f"import cycle(s) in src/zeroauth:\n{report}\n"
        "move the shared type down a layer (no TYPE_CHECKING or function-local import tricks)"
    )


def test_allow_list_names_only_cycles_that_still_exist() -> None:
    found = set(cycles(import_graph(SRC)))
    stale = [sorted(c) for c in ALLOWED_CYCLES if c not in found]
    assert not stale, f"these cycles are gone or changed: update ALLOWED_CYCLES: {stale}"


# -- the walker itself, on a synthetic package ------------------------------------------------


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    files = {
        "p/__init__.py": "from p.a import thing\n",
        "p/a.py": "thing = 1\nfrom . import b\n",  # relative: p.b
        "p/b.py": "def f():\n    from p import c\n",  # function-local, `from pkg import module`
        "p/c.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .sub.d import D\n"  # relative, under TYPE_CHECKING
        ),
        "p/sub/__init__.py": "",
        "p/sub/d.py": "from ..a import thing\nimport p.sub\n",  # parent-relative; a package
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_walker_sees_relative_local_and_type_checking_imports(pkg: Path) -> None:
    graph = import_graph(pkg, "p")
    assert set(graph["p"]) == {"p.a"}  # `thing` is a name, so the edge is to the module p.a
    assert set(graph["p.a"]) == {"p.b"}
    assert set(graph["p.b"]) == {"p.c"}
    assert set(graph["p.c"]) == {"p.sub.d"}
    assert set(graph["p.sub.d"]) == {"p.a", "p.sub"}
    [cycle] = cycles(graph)
    assert cycle == {"p.a", "p.b", "p.c", "p.sub.d"}
    assert describe(graph, cycle).startswith("p.a -> p.b (p/a.py:2)")


def test_walker_finds_nothing_in_a_tree(pkg: Path) -> None:
    (pkg / "p/sub/d.py").write_text("import p.sub\n")
    assert cycles(import_graph(pkg, "p")) == []
