"""The op interface implemented with NumPy: every primitive, plus two composites overridden as fused kernels."""

from __future__ import annotations

import math

import numpy as np

from albert_core import Backend, Ops

from . import BACKEND_NAME

_erf = np.vectorize(math.erf, otypes=[np.float64])


class ExampleOps(Ops):
    name = BACKEND_NAME

    # -- data movement: native tensors here are NumPy arrays
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

    # -- shape and indexing
    def reshape(self, x, shape):
        return np.reshape(x, shape)

    def transpose(self, x, axes):
        return np.transpose(x, axes)

    def take(self, table, ids):
        return np.take(table, ids, axis=0)

    def take_along_axis(self, x, ids):
        return np.take_along_axis(x, np.expand_dims(ids, -1), axis=-1)[..., 0]

    def where(self, cond, x, y):
        return np.where(cond, x, y)

    def not_equal(self, x, value):
        return np.not_equal(x, value)

    def clip(self, x, low, high):
        x = np.asarray(x)
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    # -- math
    def matmul(self, a, b):
        return np.matmul(a, b)

    def einsum(self, spec, *operands):
        return np.einsum(spec, *operands)

    def exp(self, x):
        return np.exp(x)

    def log(self, x):
        return np.log(x)

    def tanh(self, x):
        return np.tanh(x)

    def erf(self, x):
        x = np.asarray(x)
        return _erf(x).astype(x.dtype, copy=False)

    def sqrt(self, x):
        return np.sqrt(x)

    def abs(self, x):
        return np.abs(x)

    def maximum(self, x, y):
        x = np.asarray(x)
        return np.maximum(x, np.asarray(y, dtype=x.dtype))

    def sum(self, x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return np.max(x, axis=axis, keepdims=keepdims)

    def dropout(self, x, rate, rng, site):
        # rng: an int seed (one stream per site) or None for fresh entropy.
        gen = np.random.default_rng(None if rng is None else [int(rng), site])
        x = np.asarray(x)
        return np.where(gen.random(x.shape) >= rate, x / (1.0 - rate), 0.0).astype(x.dtype, copy=False)

    # -- composites: optional native kernels; the signature must stay the contract's
    def softmax(self, x, axis=-1):
        z = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return z / np.sum(z, axis=axis, keepdims=True)

    def gelu(self, x):
        return 0.5 * x * (1.0 + self.erf(x / math.sqrt(2.0)))


class ExampleBackend(Backend):
    name = BACKEND_NAME
    ops = ExampleOps()
    framework = "numpy"
    dtypes = ("float32",)
    # Known gaps turn matching conformance tests into strict expected failures; each needs a reason.
    known_gaps: dict[str, str] = {}
