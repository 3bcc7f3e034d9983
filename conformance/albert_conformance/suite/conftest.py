"""Parametrizations that depend on the backend under test (its dtypes, whether it trains)."""

from __future__ import annotations

import pytest

from albert_conformance.plugin import backend_of

EXACT_DTYPES = ("float32", "float64")
LOW_DTYPES = ("bfloat16", "float16")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not {"exact_dtype", "low_dtype", "training_task"} & set(metafunc.fixturenames):
        return
    backend = backend_of(metafunc.config)
    if "exact_dtype" in metafunc.fixturenames:
        metafunc.parametrize("exact_dtype", [d for d in EXACT_DTYPES if d in backend.dtypes])
    if "low_dtype" in metafunc.fixturenames:
        # An empty list (no low precision) gives an empty parameter set, which the plugin deselects.
        metafunc.parametrize("low_dtype", [d for d in LOW_DTYPES if d in backend.dtypes])
    if "training_task" in metafunc.fixturenames:
        from albert_conformance.gradients import TRAINING_CASES

        metafunc.parametrize("training_task", TRAINING_CASES if backend.supports_training else [])
