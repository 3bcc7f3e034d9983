"""`GraphOps`: the op contract's primitives as ONNX nodes. Running `albert_core.model.forward` with it records the
one model definition as an ONNX graph instead of computing it; the composites keep the core's reference bodies
(so softmax and layer norm stay in float32, the mask fill and both GELUs are the core's)."""

from __future__ import annotations

import string

import numpy as np

from albert_core.errors import BackendError
from albert_core.ops import Ops

from .graph import DTYPES, Dim, Graph, Size, Sym, _broadcast

ATTENTION_FILL = -1e30


def _axes(axis: int | tuple[int, ...] | None, rank: int) -> list[int]:
    if axis is None:
        return list(range(rank))
    return sorted(a % rank for a in (axis if isinstance(axis, tuple) else (axis,)))


class GraphOps(Ops):
    name = "onnx"

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def _sym(self, op: str, inputs: list[Sym | str], dtype: str, shape: tuple[Size, ...], **attrs) -> Sym:
        names = [x.name if isinstance(x, Sym) else x for x in inputs]
        return Sym(self.graph, self.graph.node(op, names, **attrs), dtype, shape)

    def _lift(self, x, dtype: str) -> Sym:
        return x if isinstance(x, Sym) else Sym(self.graph, self.graph.constant(np.asarray(x, dtype)), dtype,
                                                np.shape(x))

    # ------------------------------------------------------------------ data movement
    def asarray(self, x, dtype=None):
        if isinstance(x, Sym):
            return x if dtype in (None, x.dtype) else self.cast(x, dtype)
        array = np.asarray(x, dtype=dtype)
        return Sym(self.graph, self.graph.constant(array), array.dtype.name, array.shape)

    def to_numpy(self, x):
        raise BackendError("an exported graph's tensors have no values here; run the graph in onnxruntime "
                           "(backend='onnxruntime') to get numbers")

    def cast(self, x, dtype):
        return x if x.dtype == dtype else self._sym("Cast", [x], dtype, x.shape, to=DTYPES[dtype])

    def dtype_name(self, x):
        return x.dtype

    def shape(self, x):
        return x.shape

    def reshape(self, x, shape):
        g, known = self.graph, [s for s in shape if isinstance(s, int) and s != -1]
        if all(isinstance(s, int) for s in shape):
            target = g.constant(np.array(shape, np.int64))
        else:
            target = g.node("Concat", [g.size(s) for s in shape], axis=0)
        out = self._sym("Reshape", [x, target], x.dtype, ())
        sizes: list[Size] = []
        for axis, s in enumerate(shape):
            if s != -1:
                sizes.append(s)
            elif all(isinstance(d, int) for d in x.shape):
                sizes.append(int(np.prod(x.shape)) // int(np.prod(known)))
            else:
                sizes.append(Dim(g, out.name, axis, f"{out.name}_{axis}"))
        out.shape = tuple(sizes)
        return out

    def transpose(self, x, axes):
        return self._sym("Transpose", [x], x.dtype, tuple(x.shape[a] for a in axes), perm=list(axes))

    def take(self, table, ids):
        return self._sym("Gather", [table, ids], table.dtype, ids.shape + table.shape[1:], axis=0)

    def take_along_axis(self, x, ids):
        g = self.graph
        column = self._sym("Unsqueeze", [ids, g.constant(np.array([-1]))], ids.dtype, ids.shape + (1,))
        picked = self._sym("GatherElements", [x, column], x.dtype, ids.shape + (1,), axis=-1)
        return self._sym("Squeeze", [picked, g.constant(np.array([-1]))], x.dtype, ids.shape)

    def where(self, cond, x, y):
        dtype = x.dtype if isinstance(x, Sym) else y.dtype
        x, y = self._lift(x, dtype), self._lift(y, dtype)
        return self._sym("Where", [cond, x, y], dtype, _broadcast(_broadcast(cond.shape, x.shape), y.shape))

    def not_equal(self, x, value):
        same = self._sym("Equal", [x, self._lift(value, x.dtype)], "bool", x.shape)
        return self._sym("Not", [same], "bool", x.shape)

    def clip(self, x, low, high):
        low, high = self._lift(low, x.dtype), self._lift(high, x.dtype)
        return self._sym("Min", [self._sym("Max", [x, low], x.dtype, x.shape), high], x.dtype, x.shape)

    # ------------------------------------------------------------------ compute
    def matmul(self, a, b):
        if len(b.shape) == 2:
            shape = a.shape[:-1] + b.shape[-1:]
        else:
            shape = _broadcast(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        return self._sym("MatMul", [a, b], a.dtype, shape)

    def einsum(self, spec, *operands):
        inputs, output = spec.replace(" ", "").split("->")
        sizes: dict[str, Size] = {}
        for letters, x in zip(inputs.split(","), operands):
            for letter, size in zip(letters, x.shape):
                if letter not in sizes or sizes[letter] == 1:
                    sizes[letter] = size
        if not set(output) <= set(string.ascii_letters):
            raise BackendError(f"einsum {spec!r}: the ONNX exporter supports explicit letter specs only")
        return self._sym("Einsum", list(operands), operands[0].dtype, tuple(sizes[c] for c in output),
                         equation=spec)

    def _unary(self, op: str, x, **attrs):
        return self._sym(op, [x], x.dtype, x.shape, **attrs)

    def exp(self, x):
        return self._unary("Exp", x)

    def log(self, x):
        return self._unary("Log", x)

    def tanh(self, x):
        return self._unary("Tanh", x)

    def erf(self, x):
        return self._unary("Erf", x)

    def sqrt(self, x):
        return self._unary("Sqrt", x)

    def abs(self, x):
        return self._unary("Abs", x)

    def maximum(self, x, y):
        dtype = x.dtype if isinstance(x, Sym) else y.dtype
        x, y = self._lift(x, dtype), self._lift(y, dtype)
        return self._sym("Max", [x, y], dtype, _broadcast(x.shape, y.shape))

    def _reduce(self, op: str, x, axis, keepdims: bool):
        axes = _axes(axis, len(x.shape))
        shape = tuple((1 if keepdims else None) if i in axes else s for i, s in enumerate(x.shape))
        shape = tuple(s for s in shape if s is not None)
        if op == "ReduceMax" and self.graph.opset < 18:  # its axes became an input in opset 18
            return self._sym(op, [x], x.dtype, shape, axes=axes, keepdims=int(keepdims))
        return self._sym(op, [x, self.graph.constant(np.array(axes, np.int64))], x.dtype, shape,
                         keepdims=int(keepdims))

    def sum(self, x, axis=None, keepdims=False):
        return self._reduce("ReduceSum", x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._reduce("ReduceMax", x, axis, keepdims)

    # ------------------------------------------------------------------ composites as ONNX's own ops
    def softmax(self, x, axis=-1):
        y, dtype = self._upcast(x)
        y = self._sym("Softmax", [y], y.dtype, y.shape, axis=axis)
        return self.cast(y, dtype)

    def layer_norm(self, x, weight, bias, eps):
        """ONNX LayerNormalization, statistics in float32; in float16 normalised in float32 and scaled in float16,
        as the reference body does."""
        if x.dtype == "float32":
            return self._sym("LayerNormalization", [x, weight, bias], x.dtype, x.shape, axis=-1, epsilon=eps)
        y, dtype = self._upcast(x)
        n = y.shape[-1]
        ones, zeros = (self.asarray(np.full(n, v, np.float32)) for v in (1.0, 0.0))
        y = self._sym("LayerNormalization", [y, ones, zeros], y.dtype, y.shape, axis=-1, epsilon=eps)
        return self.cast(y, dtype) * weight + bias

    def gelu(self, x):
        """ONNX Gelu from opset 20 (onnxruntime runs it as one fused kernel); the core's body before."""
        return super().gelu(x) if self.graph.opset < 20 else self._unary("Gelu", x, approximate="none")

    def gelu_new(self, x):
        """Gelu with `approximate="tanh"`, the same formula as HF's gelu_new, from opset 20."""
        return super().gelu_new(x) if self.graph.opset < 20 else self._unary("Gelu", x, approximate="tanh")

    def attention(self, q, k, v, bias, head_mask=None, dropout_rate=0.0, rng=None, site=0, need_weights=False):
        """ONNX Attention from opset 23: scores, mask, softmax (float32) and context in one onnxruntime kernel.
        The core's body where Attention cannot express the call: probabilities returned, a head mask, float16
        (whose scores the core computes in float32)."""
        if self.graph.opset < 23 or need_weights or head_mask is not None or q.dtype != "float32" or dropout_rate:
            return super().attention(q, k, v, bias, head_mask=head_mask, dropout_rate=dropout_rate, rng=rng,
                                     site=site, need_weights=need_weights)
        # onnxruntime's kernel overflows on the core's fill (float32's lowest) where a row is all padding; any fill
        # below -1e30 gives the same probabilities (exactly 0, or uniform over an all-padding row), so clip to it.
        bias = self.maximum(bias, ATTENTION_FILL)
        S, g = q.shape[2], self.graph  # it also wants the mask's query axis spelled out: [B,1,1,S] -> [B,1,S,S]
        rows = g.node("Concat", [g.size(1), g.size(1), g.size(S), g.size(1)], axis=0)
        mask = self._sym("Expand", [bias, rows], bias.dtype, _broadcast(bias.shape, (1, 1, S, 1)))
        return self._sym("Attention", [q, k, v, mask], q.dtype, q.shape), None

    def dropout(self, x, rate, rng, site):
        raise BackendError("an exported ONNX graph is inference only: it has no dropout and cannot train; "
                           "fine-tune on torch, jax or tensorflow, then export")
