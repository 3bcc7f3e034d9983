"""Op-level cases: every primitive and composite of the contract, on ordinary inputs and on edge cases.

A case builds host arguments from a seeded generator; `run_case` turns the tensor arguments into the
backend's tensors in the dtype under test, calls the op, and compares with the NumPy reference run in
float64 on exactly the values the backend received (read back with its `to_numpy`), so rounding the
inputs to the tested dtype is never counted against the op.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from albert_core.config import ACTIVATIONS
from albert_core.numpy_backend import NumpyOps
from albert_core.ops import IGNORE_INDEX, LOW_PRECISION, MASK_FILL, Ops

from .compare import Mismatch, assert_close, assert_equal
from .tolerances import tolerance

REFERENCE = NumpyOps()


@dataclass(frozen=True)
class T:
    """A tensor argument. `kind` "float" follows the dtype under test; "float32" (additive masks, which the
    contract keeps in float32), "int" and "bool" keep their type."""

    value: np.ndarray
    kind: str = "float"


def f(x: Any) -> T:
    return T(np.asarray(x, dtype=np.float64), "float")


def f32(x: Any) -> T:
    return T(np.asarray(x, dtype=np.float64), "float32")


def i(x: Any) -> T:
    return T(np.asarray(x, dtype=np.int64), "int")


def b(x: Any) -> T:
    return T(np.asarray(x, dtype=bool), "bool")


Make = Callable[[np.random.Generator, str], tuple[tuple, dict]]


@dataclass(frozen=True)
class OpCase:
    op: str
    label: str
    make: Make
    out_dtype: str | None = "same"  # "same": the tested dtype; "wide": float32 or wider; None: not checked
    # Optional magnitude of the terms a reduction sums, so cancellation is judged against them (see `scale`).
    scale: Callable[[tuple, dict], Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}"


def _rng(case_id: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(case_id.encode()))



def _scaled_sum(x, w):
    """A pure function of two tensors, for the `recompute` case."""
    return x * w * 2.0 + w


def _numbered_pass(x, i, w):
    """A pass of the `recompute_loop` case: `i` (an int, or a backend's integer scalar) enters only arithmetic."""
    return x * w * 0.5 + w * (i + 1)

def _normal(rng, *shape, scale=1.0):
    return rng.normal(0.0, scale, shape)


def _matmul_scale(args, kwargs):
    return np.matmul(np.abs(args[0]), np.abs(args[1]))


def _linear_scale(args, kwargs):
    x, w = np.abs(args[0]), np.abs(args[1])
    bias = np.abs(args[2]) if len(args) > 2 and args[2] is not None else 0.0
    return np.matmul(x, w.T) + bias


def _sum_scale(args, kwargs):
    return np.sum(np.abs(args[0]), axis=kwargs.get("axis"), keepdims=kwargs.get("keepdims", False))


def _einsum_scale(args, kwargs):
    return np.einsum(args[0], *(np.abs(a) for a in args[1:]))


def _cases() -> list[OpCase]:
    c: list[OpCase] = []
    add = c.append
    # --- data movement
    add(OpCase("asarray", "host-to-dtype", lambda r, d: ((_normal(r, 3, 4), d), {})))
    add(OpCase("asarray", "native-to-dtype", lambda r, d: ((f(_normal(r, 2, 5)), d), {})))
    add(OpCase("asarray", "int64-ids", lambda r, d: ((r.integers(0, 1000, (2, 7)),), {}), out_dtype=None))
    add(OpCase("to_numpy", "values", lambda r, d: ((f(_normal(r, 4, 3, scale=100.0)),), {})))
    add(OpCase("cast", "bool-to-float", lambda r, d: ((b(r.random((3, 5)) > 0.5), d), {})))
    add(OpCase("cast", "int-to-float", lambda r, d: ((i(r.integers(-50, 50, (6,))), d), {})))
    add(OpCase("cast", "float-to-float32", lambda r, d: ((f(_normal(r, 3, 3)), "float32"), {}), out_dtype=None))
    add(OpCase("dtype_name", "float", lambda r, d: ((f(_normal(r, 2)),), {}), out_dtype=None))
    add(OpCase("dtype_name", "bool", lambda r, d: ((b([True, False]),), {}), out_dtype=None))
    add(OpCase("shape", "4d-with-length-1", lambda r, d: ((f(_normal(r, 2, 1, 3, 1)),), {}), out_dtype=None))
    add(OpCase("shape", "scalar", lambda r, d: ((f(np.float64(1.5)),), {}), out_dtype=None))
    # --- shape and indexing
    add(OpCase("reshape", "merge-with-minus-1", lambda r, d: ((f(_normal(r, 2, 3, 4)), (4, -1)), {})))
    add(OpCase("reshape", "insert-length-1", lambda r, d: ((f(_normal(r, 6, 4)), (2, 1, 3, 4)), {})))
    add(OpCase("transpose", "heads", lambda r, d: ((f(_normal(r, 2, 3, 4, 5)), (0, 2, 1, 3)), {})))
    add(OpCase("transpose", "2d", lambda r, d: ((f(_normal(r, 3, 7)), (1, 0)), {})))
    add(OpCase("take", "2d-ids", lambda r, d: ((f(_normal(r, 10, 4)), i([[0, 9, 3], [9, 9, 1]])), {})))
    add(OpCase("take", "length-1-ids", lambda r, d: ((f(_normal(r, 5, 3)), i([[4]])), {})))
    add(OpCase("take_along_axis", "2d", lambda r, d: ((f(_normal(r, 3, 5)), i([0, 4, 2])), {})))
    add(OpCase("take_along_axis", "3d", lambda r, d: ((f(_normal(r, 2, 3, 5)), i([[1, 0, 4], [3, 3, 2]])), {})))
    add(OpCase("where", "broadcast", lambda r, d: ((b(r.random((3, 1)) > 0.5), f(_normal(r, 3, 4)),
                                                    f(_normal(r, 1, 4))), {})))
    add(OpCase("where", "int-scalar", lambda r, d: ((b([True, False, True]), i([5, IGNORE_INDEX, 7]), 0), {}),
               out_dtype=None))
    add(OpCase("not_equal", "ignore-index", lambda r, d: ((i([3, IGNORE_INDEX, 0, IGNORE_INDEX]), IGNORE_INDEX), {}),
               out_dtype=None))
    add(OpCase("clip", "int-positions", lambda r, d: ((i([-3, 0, 5, 12]), 0, 8), {}), out_dtype=None))
    add(OpCase("clip", "float", lambda r, d: ((f(_normal(r, 4, 4, scale=3.0)), -1.0, 2.0), {})))
    # --- math
    add(OpCase("matmul", "2d", lambda r, d: ((f(_normal(r, 5, 8)), f(_normal(r, 8, 3))), {}), scale=_matmul_scale))
    add(OpCase("matmul", "3d-by-2d", lambda r, d: ((f(_normal(r, 2, 5, 8)), f(_normal(r, 8, 3))), {}),
               scale=_matmul_scale))
    add(OpCase("matmul", "4d-batched", lambda r, d: ((f(_normal(r, 2, 3, 4, 6)), f(_normal(r, 2, 3, 6, 4))), {}),
               scale=_matmul_scale))
    add(OpCase("matmul", "large-magnitude", lambda r, d: ((f(_normal(r, 4, 16, scale=1e3)),
                                                           f(_normal(r, 16, 4, scale=1e3))), {}), scale=_matmul_scale))
    add(OpCase("matmul", "length-1-axes", lambda r, d: ((f(_normal(r, 1, 1, 1, 5)), f(_normal(r, 1, 1, 5, 1))), {}),
               scale=_matmul_scale))
    add(OpCase("einsum", "relative-query", lambda r, d: (("bhld,lrd->bhlr", f(_normal(r, 2, 2, 5, 4)),
                                                          f(_normal(r, 5, 5, 4))), {}), scale=_einsum_scale))
    add(OpCase("einsum", "relative-key", lambda r, d: (("bhrd,lrd->bhlr", f(_normal(r, 2, 2, 5, 4)),
                                                        f(_normal(r, 5, 5, 4))), {}), scale=_einsum_scale))
    add(OpCase("exp", "wide-range", lambda r, d: ((f(np.linspace(-30.0, 30.0, 61)),), {})))
    add(OpCase("exp", "large-negative", lambda r, d: ((f([-1e4, -500.0, MASK_FILL, 0.0]),), {})))
    add(OpCase("log", "many-decades", lambda r, d: ((f(np.logspace(-30, 30, 61)),), {})))
    add(OpCase("tanh", "wide-range", lambda r, d: ((f(np.concatenate([np.linspace(-6, 6, 49), [-1e4, 1e4]])),), {})))
    add(OpCase("erf", "wide-range", lambda r, d: ((f(np.concatenate([np.linspace(-6, 6, 49), [-1e4, 1e4]])),), {})))
    add(OpCase("sqrt", "zero-to-large", lambda r, d: ((f(np.concatenate([[0.0, 1e-12], np.logspace(-6, 30, 13)])),),
                                                      {})))
    add(OpCase("abs", "signs", lambda r, d: ((f(_normal(r, 3, 4, scale=1e3)),), {})))
    add(OpCase("maximum", "scalar-zero", lambda r, d: ((f(_normal(r, 3, 4)), 0.0), {})))
    add(OpCase("maximum", "broadcast", lambda r, d: ((f(_normal(r, 3, 4)), f(_normal(r, 1, 4))), {})))
    add(OpCase("sum", "all", lambda r, d: ((f(_normal(r, 3, 4)),), {}), scale=_sum_scale))
    add(OpCase("sum", "last-keepdims", lambda r, d: ((f(_normal(r, 2, 3, 5)),), {"axis": -1, "keepdims": True}),
               scale=_sum_scale))
    add(OpCase("sum", "tuple-axes", lambda r, d: ((f(_normal(r, 2, 3, 5)),), {"axis": (0, 2)}), scale=_sum_scale))
    add(OpCase("sum", "length-1-axis", lambda r, d: ((f(_normal(r, 4, 1)),), {"axis": 1}), scale=_sum_scale))
    add(OpCase("sum", "large-magnitude", lambda r, d: ((f(_normal(r, 4, 64, scale=1e4)),), {"axis": -1}),
               scale=_sum_scale))
    add(OpCase("max", "last-keepdims", lambda r, d: ((f(_normal(r, 2, 3, 5)),), {"axis": -1, "keepdims": True})))
    add(OpCase("max", "all", lambda r, d: ((f(_normal(r, 3, 4)),), {})))
    add(OpCase("max", "masked-rows", lambda r, d: ((f([[MASK_FILL, MASK_FILL], [MASK_FILL, 1.0]]),), {"axis": 1})))
    # --- composites
    add(OpCase("linear", "bias", lambda r, d: ((f(_normal(r, 2, 3, 8)), f(_normal(r, 5, 8)), f(_normal(r, 5))), {}),
               scale=_linear_scale))
    add(OpCase("linear", "no-bias", lambda r, d: ((f(_normal(r, 4, 8)), f(_normal(r, 5, 8))), {}),
               scale=_linear_scale))
    add(OpCase("linear", "length-1-axes", lambda r, d: ((f(_normal(r, 1, 1, 8)), f(_normal(r, 1, 8)),
                                                         f(_normal(r, 1))), {}), scale=_linear_scale))
    for name in ("gelu_new", "gelu", "tanh"):
        add(OpCase("linear_activation", name, lambda r, d, name=name: (
            (f(_normal(r, 2, 3, 8)), f(_normal(r, 5, 8)), f(_normal(r, 5)), name), {}), scale=_linear_scale))
    add(OpCase("embedding", "ids", lambda r, d: ((f(_normal(r, 10, 4)), i([[1, 9], [0, 0]])), {})))
    add(OpCase("softmax", "last-axis", lambda r, d: ((f(_normal(r, 2, 3, 7, scale=3.0)),), {})))
    add(OpCase("softmax", "middle-axis", lambda r, d: ((f(_normal(r, 2, 3, 7)),), {"axis": 1})))
    add(OpCase("softmax", "large-magnitude", lambda r, d: ((f(_normal(r, 3, 6, scale=1e4)),), {})))
    add(OpCase("softmax", "length-1-axis", lambda r, d: ((f(_normal(r, 3, 1)),), {})))
    add(OpCase("softmax", "masked-rows", lambda r, d: ((f(_normal(r, 2, 4) + np.array([[MASK_FILL] * 4,
                                                                                     [0, MASK_FILL, 0, 0]])),), {})))
    add(OpCase("log_softmax", "last-axis", lambda r, d: ((f(_normal(r, 3, 9, scale=3.0)),), {}), out_dtype="wide"))
    add(OpCase("log_softmax", "large-magnitude", lambda r, d: ((f(_normal(r, 3, 6, scale=1e4)),), {}),
               out_dtype="wide"))
    add(OpCase("log_softmax", "length-1-axis", lambda r, d: ((f(_normal(r, 3, 1)),), {}), out_dtype="wide"))
    add(OpCase("layer_norm", "typical", lambda r, d: ((f(_normal(r, 2, 3, 16) + 0.5), f(_normal(r, 16)),
                                                       f(_normal(r, 16)), 1e-12), {})))
    add(OpCase("layer_norm", "large-magnitude", lambda r, d: ((f(_normal(r, 4, 32, scale=1e3)), f(_normal(r, 32)),
                                                               f(_normal(r, 32)), 1e-12), {})))
    add(OpCase("layer_norm", "length-1-axis", lambda r, d: ((f(_normal(r, 3, 1)), f(_normal(r, 1)),
                                                             f(_normal(r, 1)), 1e-5), {})))
    add(OpCase("layer_norm", "large-eps", lambda r, d: ((f(_normal(r, 3, 8, scale=0.1)), f(_normal(r, 8)),
                                                         f(_normal(r, 8)), 0.5), {})))
    wide = np.concatenate([np.linspace(-8.0, 8.0, 65), [-1e4, 1e4]])
    for name in ("gelu", "gelu_new", "relu", "silu"):
        add(OpCase(name, "wide-range", lambda r, d: ((f(wide),), {})))
    for name in ACTIVATIONS:
        add(OpCase("activation", name, lambda r, d, name=name: ((name, f(np.linspace(-6.0, 6.0, 49))), {})))
    # recompute takes a function of its tensor arguments; this one uses only the contract's operators.
    add(OpCase("recompute", "affine", lambda r, d: ((_scaled_sum, f(_normal(r, 3, 4)), f(_normal(r, 4))), {})))
    add(OpCase("recompute_loop", "three-passes", lambda r, d: ((_numbered_pass, f(_normal(r, 3, 4)), 3,
                                                                f(_normal(r, 4))), {})))
    add(OpCase("attention", "padding-and-masked-row", _attention_args))
    add(OpCase("attention", "head-mask-and-weights", lambda r, d: _attention_args(r, d, head_mask=True)))
    add(OpCase("attention", "length-1", lambda r, d: ((f(_normal(r, 1, 2, 1, 4)), f(_normal(r, 1, 2, 1, 4)),
                                                       f(_normal(r, 1, 2, 1, 4)), f32(np.zeros((1, 1, 1, 1)))),
                                                      {"need_weights": True})))
    add(OpCase("cross_entropy", "ignored-labels", lambda r, d: ((f(_normal(r, 5, 7, scale=3.0)),
                                                                 i([1, IGNORE_INDEX, 6, 0, IGNORE_INDEX])), {}),
               out_dtype="wide"))
    add(OpCase("cross_entropy", "large-logits", lambda r, d: ((f(_normal(r, 4, 5, scale=1e3)), i([0, 1, 2, 3])), {}),
               out_dtype="wide"))
    add(OpCase("cross_entropy", "custom-ignore-index", lambda r, d: ((f(_normal(r, 3, 6)), i([6, 2, 6])),
                                                                     {"ignore_index": 6}), out_dtype="wide"))
    add(OpCase("cross_entropy", "all-ignored-is-nan", lambda r, d: ((f(_normal(r, 2, 3)),
                                                                     i([IGNORE_INDEX, IGNORE_INDEX])), {}),
               out_dtype="wide"))
    add(OpCase("mse_loss", "2d", lambda r, d: ((f(_normal(r, 4, 3)), f(_normal(r, 4, 3))), {}), out_dtype="wide"))
    add(OpCase("bce_with_logits", "large-logits", lambda r, d: ((f(np.array([[-1e3, -5.0, 0.0], [5.0, 40.0, 1e3]])),
                                                                 f([[0.0, 1.0, 1.0], [0.0, 1.0, 0.5]])), {}),
               out_dtype="wide"))
    return c


def _attention_args(r, d, head_mask=False):
    B, N, S, D = 2, 2, 5, 4
    q, k, v = (f(_normal(r, B, N, S, D)) for _ in range(3))
    keep = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float64)  # row 2 fully masked: uniform
    bias = f32(((1.0 - keep) * MASK_FILL).reshape(B, 1, 1, S))
    kwargs = {"need_weights": True}
    if head_mask:
        kwargs["head_mask"] = f(np.array([1.0, 0.0]).reshape(1, N, 1, 1))
    return (q, k, v, bias), kwargs


CASES: list[OpCase] = _cases()


def case(case_id: str) -> OpCase:
    return next(c for c in CASES if c.id == case_id)


def _to_native(ops: Ops, arg: Any, dtype: str) -> Any:
    if isinstance(arg, T):
        return ops.asarray(arg.value, {"float": dtype, "float32": "float32"}.get(arg.kind))
    return arg


def _to_host(ops: Ops, value: Any) -> Any:
    """Native result (tensor, tuple of tensors, shape tuple, dtype string, None) -> host values."""
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_host(ops, v) for v in value)
    if value is None or isinstance(value, (str, int, np.ndarray)):
        return value
    return np.asarray(ops.to_numpy(value))


def _reference_args(ops: Ops, native: Any) -> Any:
    """The exact values the backend received, widened to float64 (ints and bools as they are)."""
    if isinstance(native, (str, int, float, tuple)) or native is None or callable(native):  # a function: recompute
        return native
    host = np.asarray(ops.to_numpy(native))
    return host.astype(np.float64) if host.dtype.kind == "f" else host


def run_case(ops: Ops, c: OpCase, dtype: str) -> None:
    """Run case `c` on `ops` in `dtype` and compare with the float64 NumPy reference; raises `Mismatch`."""
    rng = _rng(c.id)
    args, kwargs = c.make(rng, dtype)
    native_args = [_to_native(ops, a, dtype) for a in args]
    native_kwargs = {k: _to_native(ops, v, dtype) for k, v in kwargs.items()}
    ref_args = [_reference_args(ops, a) for a in native_args]
    ref_kwargs = {k: _reference_args(ops, v) for k, v in native_kwargs.items()}
    if c.op == "asarray":  # the op under test produced the inputs above; feed the reference the host values
        ref_args = [a.value if isinstance(a, T) else a for a in args]
    what = f"op {c.op!r} [{c.label}] in {dtype}"
    try:
        with np.errstate(all="ignore"):  # NumPy-based backends warn on NaN results that are expected here
            result = getattr(ops, c.op)(*native_args, **native_kwargs)
    except Exception as exc:
        raise Mismatch(f"{what} raised {type(exc).__name__}: {exc}") from exc
    with np.errstate(all="ignore"):
        expected = getattr(REFERENCE, c.op)(*ref_args, **ref_kwargs)
    tol_dtype = dtype
    if c.op in ("asarray", "cast") and len(args) > 1 and isinstance(args[1], str):
        tol_dtype = args[1] if args[1] != "float64" else dtype  # rounding to the target dtype is the op's job
    if c.op == "dtype_name":
        expected = dtype if args[0].kind == "float" else args[0].kind
    _check_dtype(ops, c, dtype, result, what)
    scale = None
    if c.scale is not None:
        scale = np.abs(c.scale(tuple(ref_args), ref_kwargs))
    _compare(_to_host(ops, result), expected, tol_dtype, what, scale)


def _check_dtype(ops: Ops, c: OpCase, dtype: str, result: Any, what: str) -> None:
    if c.op == "to_numpy":
        want = "float32" if dtype == "bfloat16" else dtype
        if not isinstance(result, np.ndarray) or result.dtype.name != want:
            raise Mismatch(f"{what}: returned {type(result).__name__} of dtype {getattr(result, 'dtype', None)}, "
                           f"expected a NumPy array of dtype {want}")
        return
    if c.out_dtype is None:
        return
    results = [r for r in (result if isinstance(result, tuple) else (result,)) if r is not None]
    for r in results:
        got = ops.dtype_name(r)
        ok = got == dtype if c.out_dtype == "same" else got in {dtype, "float32", "float64"} - set(LOW_PRECISION)
        if not ok:
            want = dtype if c.out_dtype == "same" else "float32 or wider"
            raise Mismatch(f"{what}: result dtype is {got!r}, expected {want!r}")


def _compare(got: Any, expected: Any, dtype: str, what: str, scale: Any = None) -> None:
    if isinstance(expected, (tuple, list)) and not (expected and all(isinstance(v, int) for v in expected)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise Mismatch(f"{what}: returned {got!r}, expected a sequence of {len(expected)} results")
        for n, (g, e) in enumerate(zip(got, expected)):
            _compare(g, e, dtype, f"{what} result #{n}", scale if n == 0 else None)
        return
    if expected is None or isinstance(expected, (str, tuple)):
        if isinstance(expected, str) and expected.startswith("int"):
            ok = isinstance(got, str) and got.startswith("int")  # int32 ids are fine (JAX without x64)
        else:
            ok = got == expected if not isinstance(expected, tuple) else tuple(got) == expected
        if not ok:
            raise Mismatch(f"{what}: returned {got!r}, expected {expected!r}")
        return
    expected = np.asarray(expected)
    if expected.dtype.kind in "biu":
        assert_equal(got, expected, what)
        return
    tol = tolerance(dtype, "op")
    if scale is not None:
        scale = np.maximum(np.abs(expected), scale)
        tol_scaled = np.asarray(scale)  # the bound uses the magnitude of the summed terms
        got_a = np.asarray(got, np.float64)
        bound = tol.atol + tol.rtol * tol_scaled
        if got_a.shape == expected.shape and np.all(np.abs(got_a - expected) <= bound):
            return
    assert_close(got, expected, tol, what)
