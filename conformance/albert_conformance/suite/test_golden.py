"""The full model and every head against the float64 NumPy goldens."""

from __future__ import annotations

import pytest

from albert_conformance.cases import MODEL_CASES
from albert_conformance.golden import check_golden


@pytest.mark.parametrize("case_name", [c.name for c in MODEL_CASES])
def test_golden_outputs(albert_backend_name, case_name, exact_dtype):
    check_golden(albert_backend_name, case_name, exact_dtype)
