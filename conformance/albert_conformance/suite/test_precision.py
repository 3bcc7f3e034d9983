"""Reduced precision: declared dtypes work (others are refused), and bfloat16/float16 track float32."""

from __future__ import annotations

import pytest

import albert_core
from albert_conformance.cases import model_case
from albert_conformance.compare import assert_close
from albert_conformance.golden import load_case_model, run_case
from albert_conformance.opcases import CASES
from albert_conformance.opcases import run_case as run_op_case
from albert_conformance.tolerances import tolerance

# Ops whose low-precision numerics the contract fixes (upcast softmax/norm, no NaN on masked rows), on inputs
# whose results stay inside float16's range.
LOW_PRECISION_OPS = [c for c in CASES if c.op in {"softmax", "log_softmax", "layer_norm", "attention", "gelu",
                                                   "gelu_new", "silu", "relu", "linear", "linear_activation",
                                                   "matmul", "exp", "tanh"}
                     and c.label not in {"large-magnitude", "wide-range", "large-negative", "masked-rows"}]
LOW_PRECISION_CASES = ["pretraining-gelu_new-relative_key", "multiple-choice-gelu_new"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
def test_dtype_is_served_or_refused(albert_backend, albert_backend_name, dtype):
    case = model_case("sequence-classification-silu-single-label")
    if dtype in albert_backend.dtypes:
        model = load_case_model(case, albert_backend_name, dtype)
        out = model(**case.build_inputs())
        got = albert_backend.ops.dtype_name(out["logits"] if hasattr(out, "keys") else out.logits)
        assert got == dtype, f"a model loaded with dtype={dtype!r} returned logits of dtype {got!r}"
    else:
        with pytest.raises(albert_core.BackendError, match=dtype):
            load_case_model(case, albert_backend_name, dtype)


@pytest.mark.parametrize("case_name", LOW_PRECISION_CASES)
def test_low_precision_outputs_track_float32(albert_backend, albert_backend_name, case_name, low_dtype):
    case = model_case(case_name)
    inputs = case.build_inputs()
    full = run_case(load_case_model(case, albert_backend_name, "float32"), albert_backend.ops, case, inputs)
    low = run_case(load_case_model(case, albert_backend_name, low_dtype), albert_backend.ops, case, inputs)
    assert low.keys() == full.keys(), f"{low_dtype} returned fields {sorted(low)}, float32 {sorted(full)}"
    tol = tolerance(low_dtype, "low_precision")
    for key in full:
        assert_close(low[key], full[key], tol, f"{case_name} in {low_dtype} vs float32: output {key!r}")


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=pytest.mark.albert_op(c.op))
                                  for c in LOW_PRECISION_OPS])
def test_low_precision_op(albert_backend, case, low_dtype):
    run_op_case(albert_backend.ops, case, low_dtype)
