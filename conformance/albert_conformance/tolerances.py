"""The one tolerance table of the conformance suite.

A result `actual` matches its reference `expected` when, elementwise,

    |actual - expected| <= atol + rtol * |expected|        (NaN matches NaN; shapes must be equal)

Each entry is keyed by `(dtype the backend computed in, kind of comparison)`:

- `op`: one primitive or composite on float32 (or float64) inputs, against the NumPy reference run on the
  same values in float64. A single op rounds a handful of times, so this is a few float32 ulps.
- `model`: a full model (every output field, hidden states and attentions included) against the float64
  golden files. Small configs with several layers, so a few hundred roundings accumulate.
- `invariant`: the same float32 backend against itself (batched vs one by one, padded vs not); only the
  order of reductions and the padded lengths differ.
- `low_precision`: bfloat16/float16 outputs against the same backend's float32 outputs. bfloat16 keeps
  8 significant bits (eps 2**-8 ~ 4e-3 after rounding), float16 11 bits (eps ~ 5e-4); the bounds allow
  roughly ten roundings to pile up through two layers.
- `grad`: gradients of the loss from a training-capable backend (float32) against central finite
  differences of the NumPy float64 loss. The reference is exact to ~1e-9 here (float64, eps 1e-6), so the bound
  covers only the backend's float32 error, a few ulps of the largest gradient (O(0.1-1) in these cases). Measured:
  the worst probe of torch, JAX and TensorFlow is at 1% of the bound, 5 ulps of the largest gradient at most.

Backends get no per-backend tolerances: every backend is held to the same numbers. A backend that cannot
meet one marks the test as a known gap with a reason (see `docs/conformance.md`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol={self.atol:g}, rtol={self.rtol:g}"


TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("float64", "op"): Tolerance(atol=1e-12, rtol=1e-10),
    ("float32", "op"): Tolerance(atol=1e-6, rtol=1e-5),
    ("float64", "model"): Tolerance(atol=1e-10, rtol=1e-8),
    ("float32", "model"): Tolerance(atol=2e-5, rtol=2e-5),
    ("float32", "invariant"): Tolerance(atol=2e-5, rtol=2e-5),
    ("float16", "op"): Tolerance(atol=2e-3, rtol=2e-3),
    ("bfloat16", "op"): Tolerance(atol=1.6e-2, rtol=1.6e-2),
    ("float16", "low_precision"): Tolerance(atol=2e-2, rtol=2e-2),
    ("bfloat16", "low_precision"): Tolerance(atol=1e-1, rtol=1e-1),
    ("float32", "grad"): Tolerance(atol=1e-5, rtol=1e-3),
}


def tolerance(dtype: str, kind: str) -> Tolerance:
    """The table's entry; a missing one is a bug in the suite, reported with the keys that exist."""
    try:
        return TOLERANCES[(dtype, kind)]
    except KeyError:
        raise KeyError(f"no tolerance for dtype {dtype!r}, kind {kind!r}; known: {sorted(TOLERANCES)}") from None
