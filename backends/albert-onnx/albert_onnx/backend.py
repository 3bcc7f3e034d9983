"""`OnnxRuntimeBackend` ("onnxruntime"): loads a checkpoint by exporting the core model definition to ONNX in
memory and running it in an `onnxruntime.InferenceSession`, behind the core's host validation, so the pipelines
and the `albert` commands work on it unchanged. Inference only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnxruntime as ort

from albert_core.backend import Backend, LoadInfo
from albert_core.bucketing import BucketedCall
from albert_core.config import AlbertConfig
from albert_core.errors import BackendError
from albert_core.model import ModelOutput
from albert_core.numpy_backend.ops import NumpyOps
from albert_core.ops import Ops

from .export import DEFAULT_OPSET, INPUT_NAMES, graph_of, token_axes
from .graph import Graph
from .ops import GraphOps


class RuntimeOps(Ops):
    """The op contract on onnxruntime, for the conformance suite's op-level cases: each primitive is recorded by
    `GraphOps` as a one-op graph and run in an `InferenceSession`; tensors are NumPy arrays between calls."""

    name = "onnxruntime"

    def __init__(self) -> None:
        self.host = NumpyOps()

    def _run(self, op: str, *args: Any, **kwargs: Any) -> np.ndarray:
        graph, feed = Graph(DEFAULT_OPSET), {}

        def lift(value: Any) -> Any:
            if not isinstance(value, (np.ndarray, np.generic)):
                return value
            array = np.asarray(value)
            feed[f"x{len(feed)}"] = array
            return graph.input(f"x{len(feed) - 1}", array.dtype.name, array.shape)

        out = getattr(GraphOps(graph), op)(*(lift(a) for a in args), **kwargs)
        graph.output("y", out)
        session = ort.InferenceSession(graph.model(op).SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feed)[0]

    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def dtype_name(self, x):
        return np.asarray(x).dtype.name

    def shape(self, x):
        return tuple(np.shape(x))

    def cast(self, x, dtype):
        return self._run("cast", x, dtype)

    def reshape(self, x, shape):
        return self._run("reshape", x, tuple(shape))

    def transpose(self, x, axes):
        return self._run("transpose", x, tuple(axes))

    def take(self, table, ids):
        return self._run("take", table, ids)

    def take_along_axis(self, x, ids):
        return self._run("take_along_axis", x, ids)

    def where(self, cond, x, y):
        return self._run("where", cond, x, y)

    def not_equal(self, x, value):
        return self._run("not_equal", x, value)

    def clip(self, x, low, high):
        return self._run("clip", x, low, high)

    def matmul(self, a, b):
        return self._run("matmul", a, b)

    def einsum(self, spec, *operands):
        return self._run("einsum", spec, *operands)

    def exp(self, x):
        return self._run("exp", x)

    def log(self, x):
        return self._run("log", x)

    def tanh(self, x):
        return self._run("tanh", x)

    def erf(self, x):
        return self._run("erf", x)

    def sqrt(self, x):
        return self._run("sqrt", x)

    def abs(self, x):
        return self._run("abs", x)

    def maximum(self, x, y):
        return self._run("maximum", x, y)

    def sum(self, x, axis=None, keepdims=False):
        return self._run("sum", x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._run("max", x, axis, keepdims)

    def softmax(self, x, axis=-1):  # the composites GraphOps records as ONNX's own ops
        return self._run("softmax", x, axis)

    def layer_norm(self, x, weight, bias, eps):
        return self._run("layer_norm", x, weight, bias, eps)

    def dropout(self, x, rate, rng, site):
        raise BackendError("backend 'onnxruntime' is inference only: it has no training-mode dropout")


class OnnxRuntimeModel(BucketedCall):
    """ALBERT for one task in onnxruntime: one session per combination of the optional outputs, exported when
    first asked for. Outputs are NumPy arrays."""

    bucket_multiple = 1  # the graph's axes are dynamic: padding would only add work

    def __init__(self, config: AlbertConfig, task: str, weights: dict[str, np.ndarray], dtype: str,
                 info: LoadInfo, backend: Any = None) -> None:
        self.config, self.task, self.dtype, self.load_info, self.backend = config, task, dtype, info, backend
        self.weights = weights
        self.ops = NumpyOps()  # the outputs are host arrays: losses are computed on them in NumPy
        self.sessions: dict[tuple, ort.InferenceSession] = {}
        axes = token_axes(task)
        self.session({name: ("int64", axes) for name in INPUT_NAMES}, False, False)  # a broken export fails here

    def session(self, spec: dict[str, tuple[str, tuple]], hidden: bool, attentions: bool) -> ort.InferenceSession:
        """The session of one input structure and choice of optional outputs, exported when first needed."""
        key = (tuple(sorted(spec.items())), hidden, attentions)
        if key not in self.sessions:
            graph = graph_of(self.config, self.task, self.weights, dtype=self.dtype, output_hidden_states=hidden,
                             output_attentions=attentions, inputs=spec)
            self.compilations += 1
            self.sessions[key] = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        return self.sessions[key]

    def _spec(self, inputs: dict[str, np.ndarray]) -> dict[str, tuple[str, tuple]]:
        """Graph inputs for these arrays: token axes dynamic, trailing sizes (embeddings, head masks) fixed."""
        axes = token_axes(self.task)
        spec = {}
        for name, value in inputs.items():
            if name == "head_mask":
                spec[name] = ("float32", value.shape)
            elif name == "inputs_embeds":
                spec[name] = ("float32", (*axes, value.shape[-1]))
            elif name == "input_ids":
                spec[name] = ("int64", axes)
            else:  # masks and positions may broadcast: their own axes, of their own rank
                spec[name] = ("int64", tuple(1 if n == 1 else f"{name}_{i}" for i, n in enumerate(value.shape)))
        return spec

    def run_bucket(self, inputs, *, rng, output_attentions, output_hidden_states, training) -> ModelOutput:
        if training:
            raise BackendError("backend 'onnxruntime' is inference only: it cannot run training-mode dropout; "
                               "fine-tune on torch, jax or tensorflow and load the result here")
        token = "input_ids" if "input_ids" in inputs else "inputs_embeds"
        shape = inputs[token].shape if token == "input_ids" else inputs[token].shape[:-1]
        inputs = {"token_type_ids": np.zeros(shape, np.int64), **inputs}  # the model would make them from sizes
        spec = self._spec(inputs)
        feed = {name: np.asarray(value, spec[name][0]) for name, value in inputs.items()}
        session = self.session(spec, output_hidden_states, output_attentions)
        values = dict(zip((o.name for o in session.get_outputs()), session.run(None, feed)))
        out = ModelOutput()
        for name, value in values.items():
            key, _, index = name.partition(".")
            if index:
                out[key] = (*out.get(key, ()), value)
            else:
                out[key] = value
        return out

    def to_native(self, name: str, value: np.ndarray) -> np.ndarray:
        return value

    def numpy_params(self) -> dict[str, np.ndarray]:
        return dict(self.weights)

    def __repr__(self) -> str:
        return (f"OnnxRuntimeModel(task={self.task!r}, dtype={self.dtype!r}, hidden_size={self.config.hidden_size}, "
                f"layers={self.config.num_hidden_layers})")


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    ops = RuntimeOps()
    framework = "onnxruntime"
    dtypes = ("float32", "float16")
    known_gaps = {"test_dropout*": "inference only: an exported graph has no training-mode dropout"}

    def build(self, config: AlbertConfig, task: str, weights: Mapping[str, np.ndarray], *, dtype: str = "float32",
              device: str | None = None, trainable: bool = False, info: LoadInfo | None = None) -> OnnxRuntimeModel:
        self.check_dtype(dtype)
        self.check_device(device)
        if trainable:
            raise BackendError("backend 'onnxruntime' is inference only (no training); load with trainable=False, "
                               "or train on torch, jax or tensorflow")
        host = {name: np.asarray(weights[name], np.float32) for name in weights}
        return OnnxRuntimeModel(config, task, host, dtype, info or LoadInfo(), backend=self)
