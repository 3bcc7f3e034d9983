"""The recording half of the exporter: `Graph` collects ONNX nodes, `Sym` is a symbolic tensor (a value name, a
dtype and a shape whose sizes are ints or `Dim`s), `Dim` a size known only when the graph runs.

`GraphOps` (ops.py) calls these; the core model never sees anything but `Sym`s and the op contract."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from albert_core.errors import BackendError

DTYPES = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "float64": TensorProto.DOUBLE,
          "int64": TensorProto.INT64, "int32": TensorProto.INT32, "bool": TensorProto.BOOL}


TOKEN_AXES = ("batch", "choices", "sequence")  # the dynamic axes of an exported graph's token inputs


class Dim:
    """A size known when the graph runs: axis `axis` of the value `source`; `value()` emits `Shape` + `Gather` once
    and returns the name of an int64 [1] tensor holding it."""

    def __init__(self, graph: Graph, source: str, axis: int, label: str) -> None:
        self.graph, self.source, self.axis, self.label, self._name = graph, source, axis, label, None

    def value(self) -> str:
        if self._name is None:
            self._name = self.graph.node("Shape", [self.source], start=self.axis, end=self.axis + 1)
        return self._name

    def __repr__(self) -> str:
        return self.label


Size = int | Dim


def _broadcast(a: tuple[Size, ...], b: tuple[Size, ...]) -> tuple[Size, ...]:
    out = []
    for x, y in itertools.zip_longest(reversed(a), reversed(b), fillvalue=1):
        out.append(y if isinstance(x, int) and x == 1 else x)
    return tuple(reversed(out))


class Graph:
    """Nodes, initializers, inputs and outputs of one graph, with fresh value names."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names = itertools.count()
        self._constants: dict[tuple, str] = {}

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._names)}"

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        names = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def constant(self, array: np.ndarray) -> str:
        """A constant value (an initializer), shared by every use of the same small array."""
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key is not None and key in self._constants:
            return self._constants[key]
        name = self.initializer(self.fresh("const"), array)
        if key is not None:
            self._constants[key] = name
        return name

    def size(self, size: int | Dim) -> str:
        """The name of an int64 [1] tensor holding `size`: a constant, or the `Dim`'s value when the graph runs."""
        return size.value() if isinstance(size, Dim) else self.constant(np.array([size], np.int64))

    def input(self, name: str, dtype: str, shape: tuple[int | str, ...]) -> Sym:
        """A graph input; a `str` size is a dynamic axis of that name."""
        self.inputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], list(shape)))
        return Sym(self, name, dtype, tuple(Dim(self, name, i, d) if isinstance(d, str) else d
                                            for i, d in enumerate(shape)))

    def output(self, name: str, value: Sym) -> None:
        self.nodes.append(helper.make_node("Identity", [value.name], [name]))
        dims = [d if isinstance(d, int) else d.label if d.label in TOKEN_AXES else None for d in value.shape]
        self.outputs.append(helper.make_tensor_value_info(name, DTYPES[value.dtype], dims))

    def model(self, name: str) -> onnx.ModelProto:
        used = {value for node in self.nodes for value in node.input}  # a head's unused weights stay out
        initializers = [t for t in self.initializers if t.name in used]
        graph = helper.make_graph(self.nodes, name, self.inputs, self.outputs, initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="albert-core")
        model.ir_version = min(model.ir_version, 10)  # what current onnxruntime releases read
        return model


class Sym:
    """A symbolic tensor: the value `name` in `graph`, with its dtype and shape (ints and `Dim`s). Python's
    arithmetic and basic indexing record nodes, as the op contract's tensors must support."""

    def __init__(self, graph: Graph, name: str, dtype: str, shape: tuple[Size, ...]) -> None:
        self.graph, self.name, self.dtype, self.shape = graph, name, dtype, tuple(shape)

    # -------------------------------------------------------------- arithmetic
    def _operand(self, other: Any) -> Sym:
        if isinstance(other, Sym):
            return other
        if isinstance(other, (bool, int, float, np.number)):
            array = np.asarray(other, dtype=self.dtype)
            return Sym(self.graph, self.graph.constant(array), self.dtype, ())
        raise BackendError(f"the ONNX exporter cannot combine a tensor with {type(other).__name__}")

    def _binary(self, op: str, other: Any, swap: bool = False) -> Sym:
        b = self._operand(other)
        a, b = (b, self) if swap else (self, b)
        return Sym(self.graph, self.graph.node(op, [a.name, b.name]), a.dtype, _broadcast(a.shape, b.shape))

    def __add__(self, other: Any) -> Sym:
        return self._binary("Add", other)

    def __radd__(self, other: Any) -> Sym:
        return self._binary("Add", other, swap=True)

    def __sub__(self, other: Any) -> Sym:
        return self._binary("Sub", other)

    def __rsub__(self, other: Any) -> Sym:
        return self._binary("Sub", other, swap=True)

    def __mul__(self, other: Any) -> Sym:
        return self._binary("Mul", other)

    def __rmul__(self, other: Any) -> Sym:
        return self._binary("Mul", other, swap=True)

    def __truediv__(self, other: Any) -> Sym:
        return self._binary("Div", other)

    def __rtruediv__(self, other: Any) -> Sym:
        return self._binary("Div", other, swap=True)

    def __neg__(self) -> Sym:
        return Sym(self.graph, self.graph.node("Neg", [self.name]), self.dtype, self.shape)

    # -------------------------------------------------------------- indexing
    def __getitem__(self, key: Any) -> Sym:
        key = key if isinstance(key, tuple) else (key,)
        if Ellipsis in key:
            at = key.index(Ellipsis)
            key = key[:at] + (slice(None),) * (len(self.shape) - len(key) + 1) + key[at + 1:]
        key = key + (slice(None),) * (len(self.shape) - len(key))
        out, shape, dropped = self, list(self.shape), []
        for axis, item in enumerate(key):
            if isinstance(item, slice):
                if item.step not in (None, 1) or item.start not in (None, 0):
                    raise BackendError(f"the ONNX exporter supports x[:stop] slices only, got {item}")
                if item.stop is None:
                    continue
                g = self.graph
                stop = g.size(item.stop)
                name = g.node("Slice", [out.name, g.constant(np.array([0])), stop, g.constant(np.array([axis]))])
                shape[axis] = item.stop
                out = Sym(g, name, self.dtype, tuple(shape))
            elif isinstance(item, (int, np.integer)):
                dropped.append(axis)
                g = self.graph
                name = g.node("Gather", [out.name, g.constant(np.array([int(item)]))], axis=axis)
                shape[axis] = 1
                out = Sym(g, name, self.dtype, tuple(shape))
            else:
                raise BackendError(f"the ONNX exporter cannot index with {item!r}")
        if dropped:
            g = self.graph
            name = g.node("Squeeze", [out.name, g.constant(np.array(dropped))])
            out = Sym(g, name, self.dtype, tuple(s for i, s in enumerate(shape) if i not in dropped))
        return out

    def __repr__(self) -> str:
        return f"Sym({self.name}, {self.dtype}, {self.shape})"
