"""No module of the package imports, directly or through others, a module that imports it back.

The graph is read from the source with `ast`: every `import` and `from ... import` of a `datapilot_pipeline` module,
at module level or inside a function (a lazy import is still a dependency; it only hides the cycle until the call).
`from package import name` points at the submodule `package.name` when there is one, else at the package. Reading
the source, not `sys.modules`, sees every module, imported by the test run or not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "datapilot_pipeline"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def _module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `module` imports."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = {f"{source}.{alias.name}" for alias in node.names} & modules.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):  # a name defined in `source` itself
                found.add(source)
    return {name for name in found if name in modules and name != module}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = _module_names(root)
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted; a module importing itself too."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative, so a deep graph never hits the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def test_the_package_has_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 100 and "datapilot_pipeline.defs.resources" in graph  # the whole package was read
    assert cycles(graph) == []


@pytest.mark.parametrize("files, expected", [
    ({"a.py": "from pkg import b", "b.py": "import pkg.c", "c.py": "def f():\n    from pkg.a import x"},
     [["pkg.a", "pkg.b", "pkg.c"]]),
    ({"a.py": "from . import b", "b.py": "from .a import x"}, [["pkg.a", "pkg.b"]]),
    ({"a.py": "from pkg.sub import d", "sub/__init__.py": "", "sub/d.py": "from ..a import y"}, [["pkg.a", "pkg.sub.d"]]),
    ({"a.py": "from pkg import b", "b.py": "import json", "c.py": "from pkg.a import x"}, []),
])
def test_cycles_are_found_through_lazy_relative_and_package_imports(tmp_path: Path, files, expected) -> None:
    package = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert cycles(import_graph(package)) == expected
