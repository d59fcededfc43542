"""Architecture rules checked on the source of the workbench and dashboards: no import cycle, no private name
used across modules.

A cycle makes the import order matter (a module half-initialised when the other
one asks for a name) and ties two layers that should change independently. The
check reads every module's `import` statements with `ast`, function-local ones
included (a local import only hides a cycle, it does not break it), except those
under `if TYPE_CHECKING:` (never executed).

A private name (``_x``) is a module's own business: another module importing
it, or calling a private method on an object of another module, depends on
what its owner may change at will. The check finds private names imported
(``from m import _x``, a private module ``m._x``), read through a module
(``m._x``) or called as a method (``obj._x()``) when the calling module does
not define that name itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("workbench", "dashboards")

# Cycles still present, each as the sorted names of its modules. Each one is asserted to exist so that
# the test fails when it is fixed and this set must shrink (never grow).
KNOWN: set[tuple[str, ...]] = set()


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its `__init__`)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(path: Path, module: str, is_package: bool) -> set[str]:
    """Dotted names `module` imports (absolute; `from a import b` gives `a.b`, a module or a name in `a`)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> modules of the packages it imports (a name inside a module counts as that module)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in imported_names(path, module, path.name == "__init__.py"):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Every strongly connected group of two modules or more (Tarjan), as a sorted tuple of names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[tuple[str, ...]] = set()

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add(tuple(sorted(group)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def chain(graph: dict[str, set[str]], group: tuple[str, ...]) -> str:
    """One import path around the group, from its first module back to it (for the failure message)."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return " -> ".join([*paths[node], start])
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return " -> ".join(group)


def test_the_checker_finds_a_cycle_through_a_function_local_import_and_skips_type_checking(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    from pkg import b\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
                                   "from . import a\n")
    (tmp_path / "c.py").write_text("import pkg.b\n")
    graph = {
        f"pkg.{name}": {
            target for target in imported_names(tmp_path / f"{name}.py", f"pkg.{name}", False)
            if target in {"pkg.a", "pkg.b", "pkg.c"}
        }
        for name in "abc"
    }
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.b"}}
    assert cycles(graph) == {("pkg.a", "pkg.b")}
    assert chain(graph, ("pkg.a", "pkg.b")) == "pkg.a -> pkg.b -> pkg.a"


def test_no_import_cycle_besides_the_known_ones() -> None:
    graph = import_graph()
    found = cycles(graph)
    new = sorted(found - KNOWN)
    assert not new, "cycle(s) d'imports :\n" + "\n".join(chain(graph, group) for group in new)
    fixed = sorted(KNOWN - found)
    assert not fixed, f"cycle(s) corrigé(s), à retirer de KNOWN : {fixed}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined(tree: ast.AST) -> set[str]:
    """Names a module defines itself (functions, methods, classes, assigned names and attributes)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return names


def private_uses(path: Path, module: str, is_package: bool, known: set[str]) -> list[str]:
    """Where `module` uses a private name of another project module, as "module:line: what" strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    own = _defined(tree)
    aliases: set[str] = set()  # local names bound to a project module
    found = []

    def project(name: str) -> bool:
        return any(name == k or name.startswith(k + ".") for k in known) or name.split(".")[0] in PACKAGES

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if not project(base) or base == module:
                continue
            if any(_private(part) for part in base.split(".")):
                found.append(f"{module}:{node.lineno}: module privé {base}")
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{module}:{node.lineno}: {base}.{alias.name}")
                elif f"{base}.{alias.name}" in known:
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if project(alias.name):
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{module}:{node.lineno}: module privé {alias.name}")
                    aliases.add(alias.asname or alias.name.split(".")[0])
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in aliases:
            found.append(f"{module}:{node.lineno}: {value.id}.{node.attr}")
        elif isinstance(value, ast.Name) and value.id in ("self", "cls"):
            continue
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
            continue  # overriding a framework's hook
        elif id(node) in called and node.attr not in own:
            found.append(f"{module}:{node.lineno}: appel de {ast.unparse(node)}()")
    return found


def test_the_private_name_checker_finds_imports_module_attributes_and_foreign_method_calls(tmp_path: Path) -> None:
    source = tmp_path / "b.py"
    source.write_text(
        "from workbench.indicators.engine import _align, compute\n"
        "from workbench.indicators.implementations._common import group\n"
        "from workbench import audit\n"
        "import pandas as pd\n"
        "def own(): return 1\n"
        "class C:\n"
        "    def _mine(self): return self._mine()\n"
        "def f(warehouse, frame):\n"
        "    audit._chain()\n"
        "    warehouse._row_filter()\n"
        "    frame._own_helper = 1\n"
        "    frame._own_helper()\n"
        "    pd._libs\n"
        "    return C()._mine()\n"
    )
    known = {"workbench", "workbench.audit", "workbench.indicators.engine", "workbench.indicators.implementations._common"}
    assert private_uses(source, "workbench.b", False, known) == [
        "workbench.b:1: workbench.indicators.engine._align",
        "workbench.b:2: module privé workbench.indicators.implementations._common",
        "workbench.b:9: audit._chain",
        "workbench.b:10: appel de warehouse._row_filter()",
    ]


def test_no_private_name_of_a_module_is_used_by_another() -> None:
    known = modules()
    found = [
        use for module, path in known.items()
        for use in private_uses(path, module, path.name == "__init__.py", set(known))
    ]
    assert not found, "nom(s) privé(s) utilisé(s) hors de leur module :\n" + "\n".join(found)


# Indicators whose Python implementation is still registered under another name than their wiki id (each
# asserted, so the set only shrinks): passages_urgences version 2 is in progress (issue 15 part 7).
OTHER_NAMES = {"passages_urgences": {"passages_urgences_fusionnes"}}


def test_each_python_indicator_is_registered_under_its_wiki_id() -> None:
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.model import PythonComputation

    dictionary = load_dictionary(ROOT / "wiki")
    named = {
        indicator: {version.computation.implementation for version in page.definition.versions
                    if isinstance(version.computation, PythonComputation)}
        for indicator, page in dictionary.indicators.items()
    }
    other = {indicator: names - {indicator} for indicator, names in named.items() if names - {indicator}}
    assert other == OTHER_NAMES, f"implémentation(s) enregistrée(s) sous un autre nom que l'indicateur : {other}"
