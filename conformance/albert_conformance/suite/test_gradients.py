"""Gradients, for backends that declare training support (see albert_conformance.gradients)."""

from __future__ import annotations

import pytest

import albert_core
from albert_conformance.cases import model_case
from albert_conformance.golden import load_case_model
from albert_conformance.gradients import GRAD_METHOD, check_gradients


def test_training_declaration_holds(albert_backend, albert_backend_name):
    case = model_case("sequence-classification-silu-single-label")
    if albert_backend.supports_training:
        assert callable(getattr(albert_backend, GRAD_METHOD, None)), (
            f"backend {albert_backend_name!r} declares supports_training but has no {GRAD_METHOD}(model, inputs)")
        load_case_model(case, albert_backend_name, "float32", trainable=True)
    else:
        with pytest.raises(albert_core.BackendError, match="training"):
            load_case_model(case, albert_backend_name, "float32", trainable=True)


def test_gradients_match_finite_differences(albert_backend, albert_backend_name, training_task):
    check_gradients(albert_backend, albert_backend_name, model_case(training_task), load_case_model)
