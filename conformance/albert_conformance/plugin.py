"""pytest plugin (entry point `pytest11`): `--albert-backend NAME` names the backend the conformance suite tests.

The option only chooses the backend; the suite is the package `albert_conformance.suite`, which has to be
collected too. Run it with `python -m albert_conformance --backend NAME` or
`pytest --pyargs albert_conformance.suite --albert-backend NAME`.

Rules it enforces, so a green run means the backend conforms:
- the backend must be registered and importable: an unknown or uninstalled backend stops the run with the
  core's message (exit status 4), it is never skipped;
- `--albert-backend` without any conformance test collected is an error, and so is running the suite
  without `--albert-backend`;
- no conformance test may skip: a skip is reported as a failure;
- a backend's `known_gaps` (`{"pattern": "reason"}` on its Backend class) turn the matching tests into
  strict expected failures: the reason is mandatory, a pattern matching no test is an error, and a test
  that passes despite its gap fails ("XPASS(strict)"), so fixed gaps get removed.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

SUITE_DIR = Path(__file__).resolve().parent / "suite"
_BACKEND_KEY = pytest.StashKey[Any]()
_NAME_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("albert-conformance")
    group.addoption("--albert-backend", metavar="NAME", default=None,
                    help="registered albert-core backend to run the conformance suite against (e.g. numpy, torch)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "albert_op(name): the contract op a conformance test exercises")
    name = config.getoption("--albert-backend")
    if name is None:
        return
    import albert_core

    try:
        backend = albert_core.get_backend(name)
    except albert_core.AlbertError as exc:
        raise pytest.UsageError(f"--albert-backend {name}: {exc}") from None
    _check_known_gaps(backend)
    config.stash[_BACKEND_KEY] = backend
    config.stash[_NAME_KEY] = name


def _check_known_gaps(backend: Any) -> None:
    gaps = getattr(backend, "known_gaps", {})
    if not isinstance(gaps, dict):
        raise pytest.UsageError(f"backend {backend.name!r}: known_gaps must be a dict {{pattern: reason}}, "
                                f"got {type(gaps).__name__}")
    for pattern, reason in gaps.items():
        if not isinstance(pattern, str) or not pattern:
            raise pytest.UsageError(f"backend {backend.name!r}: known_gaps key {pattern!r} must be a non-empty "
                                    "test-name pattern or op name")
        if not isinstance(reason, str) or not reason.strip():
            raise pytest.UsageError(f"backend {backend.name!r}: known gap {pattern!r} has no reason; every known "
                                    "gap must say why it exists (and ideally link an issue)")


def backend_of(config: pytest.Config) -> Any:
    """The backend instance under test (the suite's tests and fixtures use this)."""
    try:
        return config.stash[_BACKEND_KEY]
    except KeyError:
        raise pytest.UsageError("the albert conformance suite needs a backend: run "
                                "`python -m albert_conformance --backend NAME` or "
                                "`pytest --pyargs albert_conformance.suite --albert-backend NAME`") from None


def backend_name_of(config: pytest.Config) -> str:
    backend_of(config)
    return config.stash[_NAME_KEY]


def is_suite_item(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(SUITE_DIR)


def pytest_report_header(config: pytest.Config) -> list[str]:
    backend = config.stash.get(_BACKEND_KEY, None)
    if backend is None:
        return []
    return [f"albert backend: {config.stash[_NAME_KEY]} (framework {backend.framework} "
            f"{backend.framework_version()}, dtypes {backend.dtypes}, training {backend.supports_training})"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    empty = [item for item in items if is_suite_item(item) and _empty_parametrization(item)]
    if empty:  # a capability the backend does not declare (no low precision, no training): nothing to run
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
    suite_items = [item for item in items if is_suite_item(item)]
    backend = config.stash.get(_BACKEND_KEY, None)
    if backend is None:
        if suite_items:
            backend_of(config)  # raises the usage error
        return
    if not suite_items:
        raise pytest.UsageError("--albert-backend was given but no conformance test was collected; run "
                                "`pytest --pyargs albert_conformance.suite --albert-backend NAME`")
    gaps: dict[str, str] = getattr(backend, "known_gaps", {})
    used = set()
    for item in suite_items:
        for pattern, reason in gaps.items():
            if _gap_matches(item, pattern):
                used.add(pattern)
                item.add_marker(pytest.mark.xfail(reason=f"known gap of backend {backend.name!r}: {reason}",
                                                  strict=True))
                break
    unused = sorted(set(gaps) - used)
    if unused:
        raise pytest.UsageError(f"backend {backend.name!r}: known_gaps {unused} match no conformance test; "
                                "patterns are op names (e.g. 'erf') or test names with * wildcards "
                                "(e.g. 'test_golden_outputs[pretraining-*]')")


def _empty_parametrization(item: pytest.Item) -> bool:
    mark = item.get_closest_marker("skip")
    return mark is not None and "empty parameter set" in str(mark.kwargs.get("reason", ""))


def _gap_matches(item: pytest.Item, pattern: str) -> bool:
    op = item.get_closest_marker("albert_op")
    if op is not None and op.args and op.args[0] == pattern:
        return True
    return fnmatch.fnmatchcase(item.name, pattern) or fnmatch.fnmatchcase(getattr(item, "originalname", ""), pattern)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and is_suite_item(item):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"conformance tests may not skip (a skipped check proves nothing): {reason}"


@pytest.fixture(scope="session")
def albert_backend(request: pytest.FixtureRequest) -> Any:
    """The backend instance under test."""
    return backend_of(request.config)


@pytest.fixture(scope="session")
def albert_backend_name(request: pytest.FixtureRequest) -> str:
    """The registered name of the backend under test (what `albert_core.load(..., backend=)` takes)."""
    return backend_name_of(request.config)
