"""Selection of the docs' backend blocks (see tests/test_docs.py): `--doc-backends=torch,jax` or `all`. (The
property tests' `hypothesis` profiles are in tests/fuzz/conftest.py.)"""

from __future__ import annotations

import os

import pytest

_DESELECTED = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--doc-backends", default=os.environ.get("ALBERT_DOC_BACKENDS", ""),
                     help="run the docs' ```python backend=NAME blocks for these backends (comma-separated, or "
                          "'all'); default: none, i.e. only the core blocks (env ALBERT_DOC_BACKENDS)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "doc_backend(name): a docs block that needs backend NAME installed")
    config.stash[_DESELECTED] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {b.strip() for b in config.getoption("--doc-backends").split(",") if b.strip()}
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("doc_backend")
        if marker is None or "all" in wanted or marker.args[0] in wanted:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        config.stash[_DESELECTED] = drop


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    drop = config.stash.get(_DESELECTED, [])
    if drop:
        names = sorted({item.get_closest_marker("doc_backend").args[0] for item in drop})
        terminalreporter.write_line(f"docs: {len(drop)} backend block group(s) not selected ({', '.join(names)}); "
                                    f"run them with --doc-backends={','.join(names)}")
