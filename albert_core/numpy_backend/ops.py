"""`NumpyOps`: every primitive of the op contract in NumPy; of the composites, only `linear` is overridden (one
2-D GEMM instead of a batched matmul). Run in float64, it is the oracle the conformance suite compares with."""

from __future__ import annotations

import math

import numpy as np

from ..ops import Ops

_erf = np.vectorize(math.erf, otypes=[np.float64])


class NumpyOps(Ops):
    name = "numpy"

    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def cast(self, x, dtype):
        return np.asarray(x).astype(dtype, copy=False)

    def dtype_name(self, x):
        return np.asarray(x).dtype.name

    def shape(self, x):
        return tuple(np.shape(x))

    def reshape(self, x, shape):
        return np.reshape(x, shape)

    def transpose(self, x, axes):
        return np.transpose(x, axes)

    def take(self, table, ids):
        return table[ids]

    def take_along_axis(self, x, ids):
        return np.take_along_axis(x, ids[..., None], axis=-1)[..., 0]

    def where(self, cond, x, y):
        return np.where(cond, x, y)

    def not_equal(self, x, value):
        return np.not_equal(x, value)

    def clip(self, x, low, high):
        return np.clip(x, low, high).astype(np.asarray(x).dtype, copy=False)

    def matmul(self, a, b):
        return np.matmul(a, b)

    def einsum(self, spec, *operands):
        return np.einsum(spec, *operands, optimize=True)

    def exp(self, x):
        return np.exp(x)

    def log(self, x):
        return np.log(x)

    def tanh(self, x):
        return np.tanh(x)

    def erf(self, x):
        x = np.asarray(x)
        try:  # SciPy's vectorised erf when present; math.erf elementwise otherwise (both exact to ~1 ulp)
            from scipy.special import erf
        except ImportError:
            erf = _erf
        return erf(x).astype(x.dtype, copy=False)

    def sqrt(self, x):
        return np.sqrt(x)

    def abs(self, x):
        return np.abs(x)

    def maximum(self, x, y):
        return np.maximum(x, np.asarray(y, dtype=np.asarray(x).dtype))

    def sum(self, x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return np.max(x, axis=axis, keepdims=keepdims)

    def dropout(self, x, rate, rng, site):
        # `rng`: a numpy Generator, an int seed (each site gets its own stream), or None (fresh entropy).
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(
            None if rng is None else [int(rng), site])
        keep = gen.random(np.shape(x)) >= rate
        return np.where(keep, x / (1.0 - rate), 0.0).astype(np.asarray(x).dtype, copy=False)

    def linear(self, x, weight, bias=None):
        # One 2-D GEMM: np.matmul on a 3-D input would loop over the batch in Python-level slices.
        y = np.reshape(x, (-1, x.shape[-1])) @ weight.T
        y = y.reshape(*x.shape[:-1], weight.shape[0])
        return y if bias is None else y + bias
