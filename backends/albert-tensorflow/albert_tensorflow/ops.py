"""`TFOps`: the core op contract on TensorFlow tensors, with native kernels for the hot composites.

Works eagerly and inside `tf.function`. `shape` returns Python ints for static dimensions and a scalar
tensor for a dimension unknown at trace time (a `None` batch in a serving signature), so the core model's
reshapes still work there; ops that would need a static size (the losses' means) are written with
`tf.reduce_mean` instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from albert_core.ops import IGNORE_INDEX, LOW_PRECISION, Ops

_DTYPES = {"float64": tf.float64, "float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16,
           "int64": tf.int64, "int32": tf.int32, "bool": tf.bool}


def tf_dtype(name: str) -> tf.DType:
    return _DTYPES[name]


def _like(value: Any, x: tf.Tensor) -> tf.Tensor:
    """`value` (a Python scalar or tensor) as a tensor of `x`'s dtype, so TF's strict dtype rules hold."""
    return tf.cast(value, x.dtype) if isinstance(value, (tf.Tensor, tf.Variable)) else tf.constant(value, x.dtype)


class TFOps(Ops):
    name = "tensorflow"

    # ---------------------------------------------------------------- primitives: data movement
    def asarray(self, x, dtype=None):
        if not isinstance(x, (tf.Tensor, tf.Variable)):
            x = tf.convert_to_tensor(np.asarray(x))
        return x if dtype is None or x.dtype == tf_dtype(dtype) else tf.cast(x, tf_dtype(dtype))

    def to_numpy(self, x):
        if isinstance(x, (tf.Tensor, tf.Variable)):
            if x.dtype == tf.bfloat16:
                x = tf.cast(x, tf.float32)
            return np.asarray(x.numpy())
        return np.asarray(x)

    def cast(self, x, dtype):
        return tf.cast(x, tf_dtype(dtype))

    def dtype_name(self, x):
        return x.dtype.name

    def shape(self, x):
        static = x.shape.as_list()
        if None not in static:
            return tuple(static)
        dynamic = tf.shape(x)
        return tuple(d if d is not None else dynamic[i] for i, d in enumerate(static))

    # ---------------------------------------------------------------- primitives: shape and indexing
    def reshape(self, x, shape):
        return tf.reshape(x, shape)

    def transpose(self, x, axes):
        return tf.transpose(x, axes)

    def take(self, table, ids):
        return tf.gather(table, ids)

    def take_along_axis(self, x, ids):
        return tf.gather(x, ids[..., None], batch_dims=len(ids.shape))[..., 0]

    def where(self, cond, x, y):
        x = tf.convert_to_tensor(x) if isinstance(x, (tf.Tensor, tf.Variable)) else x
        if isinstance(x, tf.Tensor):
            return tf.where(cond, x, _like(y, x))
        y = tf.convert_to_tensor(y)
        return tf.where(cond, _like(x, y), y)

    def not_equal(self, x, value):
        return tf.not_equal(x, _like(value, x))

    def clip(self, x, low, high):
        return tf.clip_by_value(x, _like(low, x), _like(high, x))

    # ---------------------------------------------------------------- primitives: math
    def matmul(self, a, b):
        if len(a.shape) >= 2 and len(b.shape) == 2:  # [..., k] @ [k, n]: one 2-D GEMM, not a batched one
            y, lead, out = self._gemm(a, b, transpose_b=False)
            return tf.reshape(y, (*lead, out))
        if len(a.shape) >= 2 and len(b.shape) >= 2:
            return tf.linalg.matmul(a, b)  # BatchMatMulV2 broadcasts batch dimensions like NumPy
        return tf.experimental.numpy.matmul(a, b)  # vector operands

    def einsum(self, spec, *operands):
        return tf.einsum(spec, *operands)

    def exp(self, x):
        return tf.exp(x)

    def log(self, x):
        return tf.math.log(x)

    def tanh(self, x):
        return tf.tanh(x)

    def erf(self, x):
        return tf.math.erf(x)

    def sqrt(self, x):
        return tf.sqrt(x)

    def abs(self, x):
        return tf.abs(x)

    def maximum(self, x, y):
        return tf.maximum(x, _like(y, x))

    def sum(self, x, axis=None, keepdims=False):
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return tf.reduce_max(x, axis=axis, keepdims=keepdims)

    def dropout(self, x, rate, rng, site):
        # `rng`: a tf.random.Generator; an int seed or int tensor (stateless, one stream per site); or None
        # for TF's global RNG (reproducible with tf.random.set_seed).
        shape = tf.shape(x)
        if isinstance(rng, tf.random.Generator):
            noise = rng.uniform(shape, dtype=tf.float32)
        elif rng is not None:
            seed = tf.stack([tf.cast(rng, tf.int64), tf.constant(site, tf.int64)])
            noise = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
        else:
            noise = tf.random.uniform(shape, dtype=tf.float32)
        scale = tf.constant(1.0 / (1.0 - rate), x.dtype)
        return tf.where(noise >= rate, x * scale, tf.zeros_like(x))

    # ---------------------------------------------------------------- native composites
    def _gemm(self, x, w, transpose_b):
        """`x [..., k]` times a 2-D `w` as one 2-D MatMul (which grappler/oneDNN fuse with a following BiasAdd)."""
        lead = self.shape(x)[:-1]
        y = tf.linalg.matmul(tf.reshape(x, (-1, x.shape[-1])), w, transpose_b=transpose_b)
        out = w.shape[0] if transpose_b else w.shape[1]
        return y, lead, out

    def linear(self, x, weight, bias=None):
        y, lead, out = self._gemm(x, weight, transpose_b=True)  # weight stays [out, in]: no transpose copy
        if bias is not None:
            y = tf.nn.bias_add(y, bias)
        return tf.reshape(y, (*lead, out))

    def linear_activation(self, x, weight, bias, activation):
        # Grappler fuses MatMul + BiasAdd + activation into one oneDNN kernel only when the three are adjacent,
        # so the activation runs on the 2-D GEMM output, before the reshape back to [..., out].
        y, lead, out = self._gemm(x, weight, transpose_b=True)
        return tf.reshape(self.activation(activation, tf.nn.bias_add(y, bias)), (*lead, out))

    def embedding(self, table, ids, padding_idx=None):
        out = tf.gather(table, ids)
        if padding_idx is not None:  # HF's nn.Embedding(padding_idx): the pad row gets no gradient from lookups
            out = tf.where(tf.equal(ids, tf.cast(padding_idx, ids.dtype))[..., None], tf.stop_gradient(out), out)
        return out

    def softmax(self, x, axis=-1):
        dtype = x.dtype
        y = tf.nn.softmax(tf.cast(x, tf.float32) if dtype.name in LOW_PRECISION else x, axis=axis)
        return tf.cast(y, dtype) if dtype.name in LOW_PRECISION else y

    def log_softmax(self, x, axis=-1):
        return tf.nn.log_softmax(tf.cast(x, tf.float32) if x.dtype.name in LOW_PRECISION else x, axis=axis)

    def layer_norm(self, x, weight, bias, eps):
        dtype = x.dtype
        y = tf.cast(x, tf.float32) if dtype.name in LOW_PRECISION else x
        mean, var = tf.nn.moments(y, axes=[-1], keepdims=True)
        y = (y - mean) * tf.math.rsqrt(var + tf.constant(eps, y.dtype))
        if dtype.name in LOW_PRECISION:
            y = tf.cast(y, dtype)
        return y * weight + bias

    def gelu(self, x):
        return tf.nn.gelu(x, approximate=False)

    def gelu_new(self, x):
        return tf.nn.gelu(x, approximate=True)

    def relu(self, x):
        return tf.nn.relu(x)

    def silu(self, x):
        return tf.nn.silu(x)

    def recompute(self, fn, *args):
        return tf.recompute_grad(fn)(*args)

    def attention(self, q, k, v, bias, head_mask=None, dropout_rate=0.0, rng=None, site=0, need_weights=False):
        dtype = q.dtype
        scores = tf.linalg.matmul(q, k, transpose_b=True)            # [B, N, S, S], no explicit transpose of k
        if dtype.name in LOW_PRECISION:
            scores = tf.cast(scores, tf.float32)
        scores = scores * tf.constant(1.0 / math.sqrt(q.shape[-1]), scores.dtype) + tf.cast(bias, scores.dtype)
        probs = tf.nn.softmax(scores, axis=-1)
        if dtype.name in LOW_PRECISION:
            probs = tf.cast(probs, dtype)
        if dropout_rate:
            probs = self.dropout(probs, dropout_rate, rng, site)
        if head_mask is not None:
            probs = probs * tf.cast(head_mask, probs.dtype)
        return tf.linalg.matmul(probs, v), (probs if need_weights else None)

    def cross_entropy(self, logits, labels, ignore_index=IGNORE_INDEX):
        logits = tf.cast(logits, tf.float32) if logits.dtype.name in LOW_PRECISION else logits
        keep = tf.not_equal(labels, tf.cast(ignore_index, labels.dtype))
        safe = tf.where(keep, labels, tf.zeros_like(labels))
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
        weight = tf.cast(keep, nll.dtype)
        return tf.reduce_sum(nll * weight) / tf.reduce_sum(weight)  # 0/0 = NaN when all ignored, as in PyTorch

    def mse_loss(self, x, y):
        x = tf.cast(x, tf.float32) if x.dtype.name in LOW_PRECISION else x
        return tf.reduce_mean(tf.math.squared_difference(x, tf.cast(y, x.dtype)))

    def bce_with_logits(self, logits, targets):
        x = tf.cast(logits, tf.float32) if logits.dtype.name in LOW_PRECISION else logits
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(targets, x.dtype), logits=x))
