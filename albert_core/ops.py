"""The op contract every backend implements: a few primitives, plus composites with reference bodies.

A backend subclasses `Ops`, implements every primitive (abstract here) and may override any composite (a
reference body here, written in primitives) with a native kernel that computes the same function. The
`@primitive` / `@composite` markers belong to this base class only: `contract()` and `missing_primitives()`
read them from `Ops`, so a backend's methods are plain overrides and are not decorated. The model
(`albert_core.model`) only ever calls these methods, so one definition of ALBERT runs everywhere.

Tensors: a primitive takes and returns the backend's native tensors. Beyond the methods below, the model
uses only Python's arithmetic operators (`+ - * /`, unary `-`) with broadcasting and Python scalars, and
basic indexing with integers and slices (`x[:, 0]`, `x[..., 1]`). Shapes are static Python ints, except on a
graph-building backend (ONNX export), whose batch, choice and sequence sizes are symbolic: the model only passes
those on, to `reshape` and to slices, and never computes with them.
Dtypes are named by strings: "float64", "float32", "bfloat16", "float16", "int64", "int32", "bool".

Numerics the core owns (composites keep them even when a backend overrides the kernel):
- softmax and layer norm are computed in at least float32 and cast back to the input's dtype; log-softmax is
  computed in at least float32 and its result stays in float32 (or wider), as do the losses;
- masks are additive float32 biases: 0 where attended, `MASK_FILL` (float32's lowest) where masked; a
  fully masked row therefore becomes uniform attention, never NaN, in every dtype;
- `gelu` is the exact erf form, `gelu_new` the tanh approximation, exactly as HF defines them.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

MASK_FILL = float(np.finfo(np.float32).min)
IGNORE_INDEX = -100  # the label value the losses ignore (HF's and PyTorch's convention)
LOW_PRECISION = ("float16", "bfloat16")


def primitive(fn):
    """Marks a method every backend must implement."""
    fn.__albert_op__ = "primitive"
    return fn


def composite(fn):
    """Marks a method with a reference body written in primitives; a backend may override it."""
    fn.__albert_op__ = "composite"
    return fn


class Ops:
    """Base class of a backend's ops; `name` is the backend name.

    An instance may hold configuration fixed when it is made (`TorchOps` holds its device) but keeps no state
    between calls, so one instance serves every model of its backend."""

    name: str = "abstract"

    # ---------------------------------------------------------------- primitives: data movement
    @primitive
    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        """Host array (or native tensor) -> native tensor, optionally cast to `dtype`."""
        raise NotImplementedError

    @primitive
    def to_numpy(self, x: Any) -> np.ndarray:
        """Native tensor -> NumPy array on the host (bfloat16 widened to float32)."""
        raise NotImplementedError

    @primitive
    def cast(self, x: Any, dtype: str) -> Any:
        """`x` converted to `dtype`."""
        raise NotImplementedError

    @primitive
    def dtype_name(self, x: Any) -> str:
        """The dtype of `x` as one of the contract's dtype strings."""
        raise NotImplementedError

    @primitive
    def shape(self, x: Any) -> tuple[int, ...]:
        """Static shape of `x`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- primitives: shape and indexing
    @primitive
    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        """Row-major reshape; one dimension may be -1."""
        raise NotImplementedError

    @primitive
    def transpose(self, x: Any, axes: tuple[int, ...]) -> Any:
        """Permute dimensions (NumPy's `transpose(x, axes)`)."""
        raise NotImplementedError

    @primitive
    def take(self, table: Any, ids: Any) -> Any:
        """Rows of a 2-D `table` for integer `ids` of any shape: result shape `ids.shape + (cols,)`.

        Ids are validated on the host before any backend runs; a backend need not check them again."""
        raise NotImplementedError

    @primitive
    def take_along_axis(self, x: Any, ids: Any) -> Any:
        """`x[..., ids[..., None]]` on the last axis: `x` shape (..., n), `ids` shape (...) -> (...)."""
        raise NotImplementedError

    @primitive
    def where(self, cond: Any, x: Any, y: Any) -> Any:
        """Elementwise select with broadcasting."""
        raise NotImplementedError

    @primitive
    def not_equal(self, x: Any, value: Any) -> Any:
        """Elementwise `x != value` as a boolean tensor."""
        raise NotImplementedError

    @primitive
    def clip(self, x: Any, low: float, high: float) -> Any:
        """Elementwise clamp to [low, high] (keeps the dtype)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- primitives: math
    @primitive
    def matmul(self, a: Any, b: Any) -> Any:
        """NumPy `a @ b`: batch dimensions broadcast, including a 2-D `b` against a 3-D `a`."""
        raise NotImplementedError

    @primitive
    def einsum(self, spec: str, *operands: Any) -> Any:
        """NumPy-style `einsum` (used for relative position scores)."""
        raise NotImplementedError

    @primitive
    def exp(self, x: Any) -> Any:
        """Elementwise `e**x`, in `x`'s dtype."""
        raise NotImplementedError

    @primitive
    def log(self, x: Any) -> Any:
        """Elementwise natural logarithm, in `x`'s dtype."""
        raise NotImplementedError

    @primitive
    def tanh(self, x: Any) -> Any:
        """Elementwise hyperbolic tangent, in `x`'s dtype."""
        raise NotImplementedError

    @primitive
    def erf(self, x: Any) -> Any:
        """Elementwise Gauss error function `2/sqrt(pi) * integral_0^x exp(-t^2) dt`, in `x`'s dtype."""
        raise NotImplementedError

    @primitive
    def sqrt(self, x: Any) -> Any:
        """Elementwise square root, in `x`'s dtype."""
        raise NotImplementedError

    @primitive
    def abs(self, x: Any) -> Any:
        """Elementwise absolute value, in `x`'s dtype."""
        raise NotImplementedError

    @primitive
    def maximum(self, x: Any, y: Any) -> Any:
        """Elementwise maximum with broadcasting (`y` may be a Python scalar)."""
        raise NotImplementedError

    @primitive
    def sum(self, x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        """Sum over `axis` (an int, a tuple of ints, or None for every axis), in `x`'s dtype; `keepdims`
        keeps the reduced axes as length 1."""
        raise NotImplementedError

    @primitive
    def max(self, x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
        """Maximum over `axis` (an int, a tuple of ints, or None for every axis), in `x`'s dtype; `keepdims`
        keeps the reduced axes as length 1."""
        raise NotImplementedError

    @primitive
    def dropout(self, x: Any, rate: float, rng: Any, site: int) -> Any:
        """Training-mode dropout: zero each element with probability `rate`, scale the rest by 1/(1-rate).

        `rng` is the backend's random state as the caller passed it to the model (a JAX key, a
        `torch.Generator`, a seed...) or None for the framework's default; `site` numbers the dropout
        calls within one forward pass so that a functional RNG can derive independent streams."""
        raise NotImplementedError

    # ---------------------------------------------------------------- composites
    def _upcast(self, x: Any) -> tuple[Any, str]:
        dtype = self.dtype_name(x)
        return (self.cast(x, "float32") if dtype in LOW_PRECISION else x), dtype

    @composite
    def linear(self, x: Any, weight: Any, bias: Any | None = None) -> Any:
        """`x @ weight.T + bias`, `weight` shaped `[out, in]` as stored in checkpoints."""
        y = self.matmul(x, self.transpose(weight, (1, 0)))
        return y if bias is None else y + bias

    @composite
    def linear_activation(self, x: Any, weight: Any, bias: Any, activation: str) -> Any:
        """`activation(linear(x, weight, bias))` for a config `hidden_act` name: one op, so that a backend can
        run the activation inside the GEMM (oneDNN post-ops) rather than as a separate pass over the output."""
        return self.activation(activation, self.linear(x, weight, bias))

    @composite
    def embedding(self, table: Any, ids: Any, padding_idx: int | None = None) -> Any:
        """Embedding lookup; the values are `take(table, ids)`. Row `padding_idx` receives no gradient
        (PyTorch/HF semantics), which autodiff backends implement; separate from `take` so it can be fused."""
        return self.take(table, ids)

    @composite
    def softmax(self, x: Any, axis: int = -1) -> Any:
        """Softmax over `axis`, computed in at least float32, returned in `x`'s dtype."""
        y, dtype = self._upcast(x)
        y = self.exp(y - self.max(y, axis=axis, keepdims=True))
        y = y / self.sum(y, axis=axis, keepdims=True)
        return self.cast(y, dtype) if dtype in LOW_PRECISION else y

    @composite
    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        """Log-softmax over `axis` in at least float32 (the result stays in float32 or wider)."""
        y, _ = self._upcast(x)
        y = y - self.max(y, axis=axis, keepdims=True)
        return y - self.log(self.sum(self.exp(y), axis=axis, keepdims=True))

    @composite
    def layer_norm(self, x: Any, weight: Any, bias: Any, eps: float) -> Any:
        """Layer norm over the last axis with biased variance, statistics in at least float32."""
        y, dtype = self._upcast(x)
        n = self.shape(y)[-1]
        mean = self.sum(y, axis=-1, keepdims=True) / n
        centred = y - mean
        var = self.sum(centred * centred, axis=-1, keepdims=True) / n
        y = centred / self.sqrt(var + eps)
        if dtype in LOW_PRECISION:
            y = self.cast(y, dtype)
        return y * weight + bias

    @composite
    def gelu(self, x: Any) -> Any:
        """Exact GELU: `0.5 x (1 + erf(x / sqrt 2))` (HF `gelu`)."""
        return 0.5 * x * (1.0 + self.erf(x * (1.0 / math.sqrt(2.0))))

    @composite
    def gelu_new(self, x: Any) -> Any:
        """Tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (HF `gelu_new`)."""
        return 0.5 * x * (1.0 + self.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))

    @composite
    def relu(self, x: Any) -> Any:
        """Elementwise `max(x, 0)`, in `x`'s dtype."""
        return self.maximum(x, 0.0)

    @composite
    def silu(self, x: Any) -> Any:
        """`x * sigmoid(x)`, written with tanh so it never overflows: sigmoid(x) = (1 + tanh(x/2)) / 2."""
        return x * (0.5 + 0.5 * self.tanh(0.5 * x))

    def activation(self, name: str, x: Any) -> Any:
        """Dispatch on a config `hidden_act` name (validated by `AlbertConfig`)."""
        if name in ("gelu_new", "gelu_pytorch_tanh"):
            return self.gelu_new(x)
        if name in ("silu", "swish"):
            return self.silu(x)
        if name == "tanh":
            return self.tanh(x)
        return getattr(self, name)(x)

    @composite
    def attention(self, q: Any, k: Any, v: Any, bias: Any, head_mask: Any | None = None,
                  dropout_rate: float = 0.0, rng: Any = None, site: int = 0,
                  need_weights: bool = False) -> tuple[Any, Any | None]:
        """Scaled dot-product attention.

        q, k, v: [batch, heads, seq, head_dim]; bias: additive float32 broadcastable to
        [batch, heads, seq_q, seq_k] (mask and relative-position scores); head_mask: broadcastable to
        [batch, heads, 1, 1] multiplying the probabilities. Returns (context [batch, heads, seq, head_dim],
        probabilities or None). Scores and softmax are computed in at least float32.
        """
        scale = 1.0 / math.sqrt(self.shape(q)[-1])
        scores, dtype = self._upcast(self.matmul(q, self.transpose(k, (0, 1, 3, 2))))
        probs = self.softmax(scores * scale + bias, axis=-1)
        if dtype in LOW_PRECISION:
            probs = self.cast(probs, dtype)
        if dropout_rate:
            probs = self.dropout(probs, dropout_rate, rng, site)
        if head_mask is not None:
            probs = probs * head_mask
        return self.matmul(probs, v), (probs if need_weights else None)

    @composite
    def recompute(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)`, with `fn`'s activations recomputed in the backward pass instead of stored (gradient
        checkpointing: `torch.utils.checkpoint`, `jax.checkpoint`, `tf.recompute_grad`). `fn` is a pure function of
        its tensor arguments, and every tensor it should differentiate is one of them. The reference body just calls
        it: the values are the same, only memory differs."""
        return fn(*args)

    @composite
    def recompute_loop(self, fn: Any, x: Any, count: int, *weights: Any) -> Any:
        """`x = fn(x, i, *weights)` for `i` in `range(count)`, each pass under `recompute`: the backward pass keeps
        only each pass's input and recomputes the rest. `fn` follows `recompute`'s rules, and uses `i` only in
        arithmetic (a backend may pass it as a traced integer scalar, to run the passes as one compiled loop whose
        order bounds the memory). The reference body unrolls the loop."""
        for i in range(count):
            x = self.recompute(lambda h, *w, i=i: fn(h, i, *w), x, *weights)
        return x

    @composite
    def cross_entropy(self, logits: Any, labels: Any, ignore_index: int = IGNORE_INDEX) -> Any:
        """Mean negative log-likelihood over the labels that are not `ignore_index` (HF/PyTorch semantics:
        NaN when every label is ignored). logits: [n, classes]; labels: [n] ints."""
        logp = self.log_softmax(logits, axis=-1)
        keep = self.not_equal(labels, ignore_index)
        picked = self.take_along_axis(logp, self.where(keep, labels, 0))
        weight = self.cast(keep, self.dtype_name(picked))
        return -self.sum(picked * weight) / self.sum(weight)

    @composite
    def mse_loss(self, x: Any, y: Any) -> Any:
        """Mean of `(x - y)^2` over every element, `x` and `y` of the same shape; computed and returned in at
        least float32."""
        x, _ = self._upcast(x)
        d = x - self.cast(y, self.dtype_name(x))
        n = int(np.prod(self.shape(d)))
        return self.sum(d * d) / n

    @composite
    def bce_with_logits(self, logits: Any, targets: Any) -> Any:
        """Mean binary cross-entropy on logits, in the stable form max(x,0) - x*y + log(1 + exp(-|x|))."""
        x, _ = self._upcast(logits)
        y = self.cast(targets, self.dtype_name(x))
        loss = self.maximum(x, 0.0) - x * y + self.log(1.0 + self.exp(-self.abs(x)))
        return self.sum(loss) / int(np.prod(self.shape(loss)))


def contract() -> dict[str, tuple[str, inspect.Signature]]:
    """The op contract: every op name -> (kind, signature), for conformance checks of backends.

    Read from the markers on `Ops` itself only: a backend's overrides need no markers, and any they carry are
    ignored."""
    out = {}
    for name, fn in vars(Ops).items():
        kind = getattr(fn, "__albert_op__", None)
        if kind:
            out[name] = (kind, inspect.signature(fn))
    return out


def missing_primitives(ops: Ops) -> list[str]:
    """Primitives of the contract (kinds read from `Ops`) that `ops` still inherits unimplemented from `Ops`."""
    return [n for n, (kind, _) in contract().items()
            if kind == "primitive" and getattr(type(ops), n) is getattr(Ops, n)]
