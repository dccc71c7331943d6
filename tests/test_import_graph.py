"""The package structure a newcomer relies on: no import cycles inside ``edge/`` or ``export/``
(function-level imports included, so none can hide one), ``edge`` never imports ``export``,
torch or scikit-learn, and no module or function grows past the size a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGES = ("edge", "export", "firmware_bridge")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its body (TYPE_CHECKING blocks excluded:
    they never run)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                mod = ".".join([*anchor, mod] if mod else anchor)
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            # the deepest project module the import names (``from a.b import c`` -> a.b.c if c
            # is a module, else a.b)
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), within ``prefix``."""
    nodes = [n for n in graph if n.split(".")[0] == prefix]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w.split(".")[0] != prefix:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for n in nodes:
        if n not in index:
            visit(n)
    return found


def test_no_import_cycles_in_edge_or_export():
    graph = _graph()
    for pkg in ("edge", "export"):
        assert _cycles(graph, pkg) == [], f"import cycle(s) inside {pkg}/"


def test_cycle_detector_finds_a_cycle():
    graph = {"edge.a": {"edge.b"}, "edge.b": {"edge.c"}, "edge.c": {"edge.a"}, "edge.d": set()}
    assert _cycles(graph, "edge") == [["edge.a", "edge.b", "edge.c"]]


def test_edge_never_imports_export_torch_or_sklearn():
    for name, path in _modules().items():
        if not name.startswith("edge"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            for m in mods:
                assert m.split(".")[0] not in ("export", "torch", "sklearn"), \
                    f"{path}: imports {m}"


def test_no_module_over_400_lines_no_function_over_80():
    too_long = []
    for name, path in _modules().items():
        text = path.read_text()
        n = text.count("\n")
        if n > MAX_MODULE_LINES:
            too_long.append(f"{name}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                # argparse builders are long lists of options and read top to bottom
                builder = node.name in ("add_subparser", "build_parser") or \
                    node.name.startswith("add_") and node.name.endswith("_arguments")
                if length > MAX_FUNCTION_LINES and not builder:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []
