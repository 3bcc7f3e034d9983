"""`JaxOps`: the op contract in `jax.numpy`, with fused composites that XLA compiles well.

Every method is traceable, so the core's one ALBERT definition (`albert_core.model.forward`) runs
eagerly, under `jax.jit` and under `jax.grad` alike. Composites keep the core's numerics: softmax,
log-softmax and layer-norm statistics in float32, additive float32 mask biases, exact-erf `gelu`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from albert_core.errors import InputError
from albert_core.ops import LOW_PRECISION, Ops

_F32 = jnp.float32


def jax_dtype(name: str) -> np.dtype:
    """A contract dtype name -> the dtype JAX will actually use (int64/float64 narrow unless x64 is on)."""
    return jax.dtypes.canonicalize_dtype(jnp.dtype(name))


def _contract_last(x, weight):
    """`x @ weight.T` without materialising the transpose: contract x's last axis with weight's axis 1.

    Half precision asks for float32 accumulation: XLA's CPU backend then uses its native bf16 kernel
    (measured 2x faster) instead of widening both operands and narrowing the product."""
    low = x.dtype.name in LOW_PRECISION
    y = jax.lax.dot_general(x, weight, (((x.ndim - 1,), (1,)), ((), ())), preferred_element_type=_F32 if low else None)
    return y.astype(x.dtype) if low else y


class JaxOps(Ops):
    name = "jax"

    # ---------------------------------------------------------------- primitives
    def asarray(self, x, dtype=None):
        return jnp.asarray(x, dtype=None if dtype is None else jax_dtype(dtype))

    def to_numpy(self, x):
        arr = np.asarray(x)
        return arr.astype(np.float32) if arr.dtype == jnp.bfloat16 else arr

    def cast(self, x, dtype):
        return jnp.asarray(x).astype(jax_dtype(dtype))

    def dtype_name(self, x):
        return jnp.asarray(x).dtype.name

    def shape(self, x):
        return tuple(jnp.shape(x))

    def reshape(self, x, shape):
        return jnp.reshape(x, shape)

    def transpose(self, x, axes):
        return jnp.transpose(x, axes)

    def take(self, table, ids):
        # Ids are validated on the host by `__call__`; inside a user's own jitted `apply` an out-of-range
        # id reads NaN (mode "fill") rather than a silently clamped row.
        return jnp.take(table, ids, axis=0, mode="fill")

    def take_along_axis(self, x, ids):
        return jnp.take_along_axis(x, ids[..., None], axis=-1)[..., 0]

    def where(self, cond, x, y):
        return jnp.where(cond, x, y)

    def not_equal(self, x, value):
        return jnp.not_equal(x, value)

    def clip(self, x, low, high):
        return jnp.clip(x, low, high).astype(jnp.asarray(x).dtype)

    def matmul(self, a, b):
        return jnp.matmul(a, b)

    def einsum(self, spec, *operands):
        return jnp.einsum(spec, *operands)

    def exp(self, x):
        return jnp.exp(x)

    def log(self, x):
        return jnp.log(x)

    def tanh(self, x):
        return jnp.tanh(x)

    def erf(self, x):
        return jax.scipy.special.erf(x)

    def sqrt(self, x):
        return jnp.sqrt(x)

    def abs(self, x):
        return jnp.abs(x)

    def maximum(self, x, y):
        return jnp.maximum(x, y)

    def sum(self, x, axis=None, keepdims=False):
        return jnp.sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return jnp.max(x, axis=axis, keepdims=keepdims)

    def dropout(self, x, rate, rng, site):
        # Functional RNG: every dropout site draws from its own stream, fold_in(key, site).
        if rng is None:
            raise InputError("training=True needs rng=jax.random.key(seed) for dropout (JAX has no global "
                             "random state); pass training=False for inference")
        if isinstance(rng, int):
            rng = jax.random.key(rng)
        keep = jax.random.bernoulli(jax.random.fold_in(rng, site), 1.0 - rate, jnp.shape(x))
        return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)

    # ---------------------------------------------------------------- composites
    def embedding(self, table, ids, padding_idx=None):
        rows = self.take(table, ids)
        if padding_idx is None:
            return rows
        # No gradient flows to the pad row (PyTorch's padding_idx, which HF uses); values are unchanged.
        return jnp.where((ids == padding_idx)[..., None], jax.lax.stop_gradient(rows), rows)

    def linear(self, x, weight, bias=None):
        y = _contract_last(x, weight)
        return y if bias is None else y + bias

    def softmax(self, x, axis=-1):
        dtype = x.dtype
        y = jax.nn.softmax(x.astype(_F32) if dtype.name in LOW_PRECISION else x, axis=axis)
        return y.astype(dtype)

    def log_softmax(self, x, axis=-1):
        return jax.nn.log_softmax(x.astype(_F32) if x.dtype.name in LOW_PRECISION else x, axis=axis)

    def layer_norm(self, x, weight, bias, eps):
        # Statistics and the affine step in float32 (as PyTorch's fused kernel does), one cast back.
        dtype = x.dtype
        low = dtype.name in LOW_PRECISION
        y = x.astype(_F32) if low else x
        mean = jnp.mean(y, axis=-1, keepdims=True)
        centred = y - mean
        var = jnp.mean(centred * centred, axis=-1, keepdims=True)
        y = centred * jax.lax.rsqrt(var + eps)
        if low:
            return (y * weight.astype(_F32) + bias.astype(_F32)).astype(dtype)
        return y * weight + bias

    def gelu(self, x):
        return jax.nn.gelu(x, approximate=False)

    def gelu_new(self, x):
        return jax.nn.gelu(x, approximate=True)

    def relu(self, x):
        return jax.nn.relu(x)

    def silu(self, x):
        return jax.nn.silu(x)

    def recompute(self, fn, *args):
        return jax.checkpoint(fn)(*args)

    def recompute_loop(self, fn, x, count, *weights):
        # A scan over checkpointed passes: XLA:CPU schedules an unrolled chain of jax.checkpoint calls so that
        # every recompute runs early and the step keeps L layers of activations anyway (jax-ml/jax#19822); the
        # scan's sequential body keeps one.
        step = jax.checkpoint(lambda h, i, w: fn(h, i, *w))
        return jax.lax.scan(lambda h, i: (step(h, i, weights), None), x, jnp.arange(count))[0]

    def attention(self, q, k, v, bias, head_mask=None, dropout_rate=0.0, rng=None, site=0, need_weights=False):
        dtype = q.dtype
        low = dtype.name in LOW_PRECISION
        # Scores accumulate in float32 straight out of the matmul in half precision.
        scores = jnp.einsum("bhqd,bhkd->bhqk", q, k, preferred_element_type=_F32 if low else None)
        scores = scores * (1.0 / math.sqrt(q.shape[-1])) + bias
        probs = jax.nn.softmax(scores, axis=-1).astype(dtype)
        if dropout_rate:
            probs = self.dropout(probs, dropout_rate, rng, site)
        if head_mask is not None:
            probs = probs * head_mask
        ctx = jnp.einsum("bhqk,bhkd->bhqd", probs, v, preferred_element_type=_F32 if low else None).astype(dtype)
        return ctx, (probs if need_weights else None)
