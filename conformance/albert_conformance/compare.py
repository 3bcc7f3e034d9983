"""Comparisons whose failure message says what differs, where, and by how much."""

from __future__ import annotations

from typing import Any

import numpy as np

from .tolerances import Tolerance


class Mismatch(AssertionError):
    """A backend's result differs from the reference beyond the tolerance."""


def assert_close(actual: Any, expected: Any, tol: Tolerance, what: str) -> None:
    """Elementwise `|actual - expected| <= atol + rtol * |expected|`, NaN matching NaN.

    `what` names the thing compared (`op 'exp' [wide range]`, `golden base-gelu: last_hidden_state`); the
    message adds the shape, the number of bad elements, the worst one's index, both values and the
    differences, so a failure says at once which op broke and how badly.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise Mismatch(f"{what}: shape {a.shape} differs from the reference shape {e.shape}")
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    if (nan_a != nan_e).any():
        idx = tuple(int(i) for i in np.argwhere(nan_a != nan_e)[0])
        raise Mismatch(f"{what}: NaN mismatch at index {idx}: got {a[idx]!r}, expected {e[idx]!r} "
                       f"({int((nan_a != nan_e).sum())} element(s))")
    a, e = np.where(nan_a, 0.0, a), np.where(nan_e, 0.0, e)
    inf_mismatch = (np.isinf(a) | np.isinf(e)) & (a != e)
    with np.errstate(invalid="ignore"):
        diff = np.where(inf_mismatch, np.inf, np.abs(a - e))
    diff = np.where(np.isinf(a) & (a == e), 0.0, diff)
    bound = tol.atol + tol.rtol * np.abs(e)
    bad = diff > bound
    if bad.any():
        excess = np.where(bad, diff - bound, -np.inf)
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), a.shape)) if a.ndim else ()
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = diff[idx] / abs(e[idx]) if e[idx] else np.inf
        raise Mismatch(
            f"{what}: {int(bad.sum())} of {a.size} element(s) differ from the reference beyond {tol}; "
            f"worst at index {idx}: got {a[idx]:.9g}, expected {e[idx]:.9g}, abs diff {diff[idx]:.3g}, "
            f"rel diff {rel:.3g}; max abs diff over all elements {float(diff.max()):.3g}")


def assert_equal(actual: Any, expected: Any, what: str) -> None:
    """Exact equality of values and shapes (for ints, bools, and bitwise-repeatable calls)."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape:
        raise Mismatch(f"{what}: shape {a.shape} differs from the reference shape {e.shape}")
    same = (a == e) | (np.isnan(a) & np.isnan(e)) if a.dtype.kind == "f" and e.dtype.kind == "f" else a == e
    if not np.all(same):
        idx = tuple(int(i) for i in np.argwhere(~np.asarray(same))[0]) if a.ndim else ()
        raise Mismatch(f"{what}: {int((~np.asarray(same)).sum())} of {a.size} element(s) differ; first at index "
                       f"{idx}: got {a[idx]!r}, expected {e[idx]!r}")
