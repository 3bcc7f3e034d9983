"""Parametrizations that depend on the backend under test (its dtypes, whether it trains)."""

from __future__ import annotations

import pytest

from albert_conformance.plugin import backend_name_of, backend_of

EXACT_DTYPES = ("float32", "float64")
LOW_DTYPES = ("bfloat16", "float16")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not {"exact_dtype", "low_dtype", "training_task", "training_backend",
            "bf16_training_backend"} & set(metafunc.fixturenames):
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
    # test_training.py, test_finetune.py: the backend's name when it trains (and, for bf16 steps, computes in
    # bfloat16), else an empty set, deselected like the above. Module scope, so the module's shared runs can
    # depend on it.
    trains = [backend_name_of(metafunc.config)] if backend.supports_training else []
    if "training_backend" in metafunc.fixturenames:
        metafunc.parametrize("training_backend", trains, scope="module")
    if "bf16_training_backend" in metafunc.fixturenames:
        metafunc.parametrize("bf16_training_backend", trains if "bfloat16" in backend.dtypes else [], scope="module",
                             ids=["bf16"] * len(trains))
