"""The core's import graph has no circle, counting function-local (lazy) imports too (not those under
`if TYPE_CHECKING:`, which never run): so every import runs one way down the layers, and the layout of
`albert_core/` (docs/architecture.md) cannot silently decay."""

from __future__ import annotations

import ast
from pathlib import Path

import albert_core

ROOT = Path(albert_core.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _target(name: str) -> str | None:
    """The module an import of `name` runs (a package's `__init__` for a name it defines), if it is ours."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Every albert_core module `module` imports, at the top or inside a function."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                   ast.unparse(node.test) for stmt in node.body for inner in ast.walk(stmt)}  # never run
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {t for t in map(_target, names) if t and t != module}
    return found


def test_every_module_is_found():
    assert {"albert_core", "albert_core.tasks", "albert_core.tokenizer.text", "albert_core.cli.main"} <= set(MODULES)
    assert "albert_core.checkpoints.formats" in imports_of("albert_core.checkpoints.hf_folder")
    assert "albert_core.ops" in imports_of("albert_core.model")


def test_no_import_circle():
    graph = {module: imports_of(module) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circle = path[path.index(module):] + [module]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
