"""The package's public surface after the reorganisation into subsystem packages: the import paths from before
still give the modules that replaced them, every name in `albert_core.__all__` resolves, the task names are
written in `albert_core/tasks.py` only (and nowhere in the backends' library code), and no module is private by
name. (That importing the package, its CLI and listing backends imports no framework is
`test_plugins.test_import_and_listing_import_no_framework`.)"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import albert_core

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "albert_core"
BACKEND_PACKAGES = sorted(init.parent for init in REPO.glob("backends/*/albert_*/__init__.py"))

# Old import path -> the module that replaced it (each is declared in `albert_core.MOVED_MODULES`).
OLD_PATHS = {
    "albert_core.formats": "albert_core.checkpoints.formats",
    "albert_core.safetensors_io": "albert_core.checkpoints.safetensors_file",
    "albert_core.convert": "albert_core.checkpoints.convert",
    "albert_core.backends.numpy_backend": "albert_core.numpy_backend",
}
TASK_NAMES = ("base", "pretraining", "masked-lm", "sequence-classification", "token-classification",
              "question-answering", "multiple-choice")
# albert_core/config.py names the preset shapes by model size: "base" there is the size in "albert-base-v1/v2"
# (next to "large", "xlarge", "xxlarge"), not the task; the one occurrence exempted is that key of that dict.
PRESET_SIZES = {"base", "large", "xlarge", "xxlarge"}


# ------------------------------------------------------------------------------------------ old import paths
def test_every_old_path_is_declared_as_moved():
    declared = {f"albert_core.{old}": f"albert_core.{new}" for old, new in albert_core.MOVED_MODULES.items()}
    assert OLD_PATHS.items() <= declared.items()


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_import_path_gives_the_module_that_replaced_it(old):
    new = importlib.import_module(OLD_PATHS[old])
    assert importlib.import_module(old) is new
    assert sys.modules[old] is new


def test_old_names_import_from_the_old_paths():
    from albert_core.backends.numpy_backend import NumpyBackend, NumpyOps

    from albert_core import convert, formats, safetensors_io

    assert albert_core.safetensors_io is safetensors_io is sys.modules["albert_core.checkpoints.safetensors_file"]
    assert formats is sys.modules["albert_core.checkpoints.formats"]
    assert convert is sys.modules["albert_core.checkpoints.convert"]  # the module (`checkpoints.convert`: a function)
    assert NumpyOps is albert_core.numpy_backend.NumpyOps and NumpyBackend is albert_core.numpy_backend.NumpyBackend
    import albert_core.backends.numpy_backend as numpy_backend
    from albert_core.backends import numpy_backend as same

    assert numpy_backend is same is albert_core.backends.numpy_backend is albert_core.numpy_backend
    assert albert_core.formats is formats and albert_core.convert is convert  # attribute access after the import


# ------------------------------------------------------------------------------------------ public names
def test_every_public_name_resolves():
    assert [name for name in albert_core.__all__ if not hasattr(albert_core, name)] == []
    namespace: dict = {}
    exec("from albert_core import *", namespace)
    assert set(albert_core.__all__) <= set(namespace)


# ------------------------------------------------------------------------------------------ task names
def task_literals(path: Path) -> list[tuple[str, int]]:
    """(task name, line) of every string literal in `path` that is a task name, docstrings aside (and the one
    preset-size key of albert_core/config.py, see PRESET_SIZES)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))  # a docstring
        if path == CORE / "config.py" and isinstance(node, ast.Dict):
            keys = [k for k in node.keys if isinstance(k, ast.Constant)]
            if {k.value for k in keys} == PRESET_SIZES:
                skip |= {id(k) for k in keys if k.value == "base"}
    return [(node.value, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TASK_NAMES
            and id(node) not in skip]


def test_task_names_are_written_only_in_tasks_py():
    assert set(TASK_NAMES) == set(albert_core.TASKS)
    where: dict[str, list[str]] = {name: [] for name in TASK_NAMES}
    for path in sorted(CORE.rglob("*.py")):
        for name, line in task_literals(path):
            where[name].append(f"{path.relative_to(REPO)}:{line}")
    assert {name: {place.partition(":")[0] for place in places} for name, places in where.items()} == {
        name: {"albert_core/tasks.py"} for name in TASK_NAMES}, where


def test_backends_write_no_task_name():
    assert {"albert_torch", "albert_jax", "albert_tensorflow"} <= {p.name for p in BACKEND_PACKAGES}
    found = [f"{path.relative_to(REPO)}:{line}: {name!r}" for package in BACKEND_PACKAGES
             for path in sorted(package.rglob("*.py")) for name, line in task_literals(path)]
    assert found == []


# ------------------------------------------------------------------------------------------ module names
def test_no_module_is_named_private():
    private = [str(path.relative_to(REPO)) for path in sorted(CORE.rglob("_*"))
               if path.name not in ("__init__.py", "__main__.py", "__pycache__") and "__pycache__" not in path.parts
               and (path.suffix == ".py" or path.is_dir())]
    assert private == []
