"""Each primitive and composite against the NumPy reference in float64 (edge cases included)."""

from __future__ import annotations

import numpy as np
import pytest

from albert_conformance.opcases import CASES, run_case

OP_PARAMS = [pytest.param(c, id=c.id, marks=pytest.mark.albert_op(c.op)) for c in CASES]


@pytest.mark.parametrize("case", OP_PARAMS)
def test_op(albert_backend, case, exact_dtype):
    run_case(albert_backend.ops, case, exact_dtype)


@pytest.mark.albert_op("dropout")
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout(albert_backend, rate):
    """Int seeds are the one rng every backend accepts; each (seed, site) is one reproducible stream."""
    ops = albert_backend.ops
    x = np.linspace(0.5, 1.5, 40_000).reshape(200, 200)
    native = ops.asarray(x, "float32")
    y = ops.to_numpy(ops.dropout(native, rate, 1234, 1)).astype(np.float64)
    assert y.shape == x.shape and ops.dtype_name(ops.dropout(native, rate, 1234, 1)) == "float32"
    dropped = y == 0.0
    scaled = x[~dropped] / (1.0 - rate)
    assert (np.abs(y[~dropped] - scaled) <= 1e-6 * scaled).all(), (
        f"op 'dropout': kept elements must be scaled by 1/(1-rate) = {1 / (1 - rate):.4f}")
    # 40,000 Bernoulli draws: the dropped fraction is within 6 standard deviations of the rate.
    bound = 6 * np.sqrt(rate * (1 - rate) / x.size)
    assert abs(dropped.mean() - rate) <= bound, (
        f"op 'dropout': dropped fraction {dropped.mean():.4f}, expected {rate} +- {bound:.4f}")
    again = ops.to_numpy(ops.dropout(native, rate, 1234, 1)) == 0.0
    other_site = ops.to_numpy(ops.dropout(native, rate, 1234, 2)) == 0.0
    assert (again == dropped).all(), "op 'dropout': the same seed and site must drop the same elements"
    assert (other_site != dropped).mean() > rate * (1 - rate), (
        "op 'dropout': another site with the same seed must draw an independent mask")
