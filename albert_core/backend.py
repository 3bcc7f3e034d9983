"""`Backend`: what a plugin's factory returns, and the generic model object backends can reuse or extend."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import AlbertConfig
from .errors import BackendError
from .formats import tensor_shape
from .inputs import prepare_inputs
from .model import ModelOutput, forward
from .ops import Ops

# Bytes: TensorFlow and XLA adopt a host buffer without copying only when it is this aligned.
HOST_ALIGNMENT = 64
_STREAM_BYTES = 16 << 20  # buffer for reading a transposed tensor in row chunks
_TRANSPOSE_ROWS = 16  # NumPy transposes a 16-row strip 3x faster than a 1024-row one (measured: cache, TLB)


def empty_aligned(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a `HOST_ALIGNMENT`-byte boundary."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + HOST_ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % HOST_ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def host_array(weights: Mapping[str, np.ndarray], name: str, *, transpose: bool = False) -> np.ndarray:
    """Parameter `name` as a fresh float32 host array the caller owns: aligned, so TF (via DLPack) and JAX
    (`may_alias=True`) can adopt it instead of copying, and filled straight from the file when the reader has
    `read_into`. `transpose=True` gives a 2-D tensor's transpose (a `[in, out]` kernel), streamed through a
    small row buffer, so loading never holds a second full-size copy of a tensor."""
    shape = tensor_shape(weights, name)
    read_into = getattr(weights, "read_into", None)
    if not transpose:
        out = empty_aligned(shape)
        if read_into is None or not read_into(name, out):
            out[...] = weights[name]
        return out
    rows, cols = shape
    out = empty_aligned((cols, rows))
    buffer = np.empty((max(1, min(rows, _STREAM_BYTES // max(1, 4 * cols))), cols), np.float32)
    for start in range(0, rows, len(buffer)):
        chunk = buffer[: min(len(buffer), rows - start)]
        if read_into is None or not read_into(name, chunk, start):
            out[...] = np.asarray(weights[name]).T  # a reader without row access: one temporary tensor
            break
        for row in range(0, len(chunk), _TRANSPOSE_ROWS):
            strip = chunk[row:row + _TRANSPOSE_ROWS]
            out[:, start + row:start + row + len(strip)] = strip.T
    return out


@dataclass
class LoadInfo:
    """What loading did: where the weights came from, which tensors were initialised or left unused."""

    source: str = ""
    initialized: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # checkpoint entries a format reader dropped


class Backend:
    """A compute backend. Subclasses set `name`, `ops`, `framework`, `dtypes`, and may override `build`.

    The default `build` returns an `AlbertModel` (host validation + the core model on `ops`), which is all
    a new backend needs; framework backends return native objects (an `nn.Module`, a params pytree with a
    jitted apply, a `tf.Module`) built on the same pieces.
    """

    name: str = "abstract"
    ops: Ops
    framework: str | None = None  # import name of the framework, for versions and messages
    dtypes: tuple[str, ...] = ("float32",)
    supports_training: bool = False
    # Known conformance gaps: op name or test-name pattern -> reason (strict expected failures; see
    # docs/conformance.md). A backend with `supports_training` also provides
    # `loss_and_grads(model, inputs) -> (loss, {HF name: gradient as a host array})` for the suite.
    known_gaps: dict[str, str] = {}

    def framework_version(self) -> str | None:
        if self.framework is None:
            return None
        import importlib.metadata

        try:
            return importlib.metadata.version(self.framework)
        except importlib.metadata.PackageNotFoundError:
            return getattr(__import__(self.framework), "__version__", None)

    def check_dtype(self, dtype: str) -> str:
        if dtype not in self.dtypes:
            raise BackendError(f"dtype {dtype!r} is not supported by backend {self.name!r}; "
                               f"use one of {self.dtypes}")
        return dtype

    def check_device(self, device: str | None) -> None:
        if device not in (None, "cpu"):
            raise BackendError(f"device {device!r} is not available on backend {self.name!r}; it runs on 'cpu'")

    def convert_params(self, weights: Mapping[str, np.ndarray], dtype: str, device: str | None) -> dict[str, Any]:
        """Host arrays -> native tensors, one at a time so peak memory stays near one copy of the weights."""
        return {name: self.ops.asarray(weights[name], dtype) for name in weights}

    def build(self, config: AlbertConfig, task: str, weights: Mapping[str, np.ndarray], *, dtype: str = "float32",
              device: str | None = None, trainable: bool = False, info: LoadInfo | None = None) -> Any:
        self.check_dtype(dtype)
        self.check_device(device)
        if trainable and not self.supports_training:
            raise BackendError(f"backend {self.name!r} does not support training; load with trainable=False")
        return AlbertModel(self, config, task, self.convert_params(weights, dtype, device), dtype, info or LoadInfo())


class AlbertModel:
    """A loaded model on any backend: call it with HF's argument names, get HF's output fields.

    Inputs may be NumPy arrays, nested lists or the backend's tensors; they are validated on the host
    first. Outputs are the backend's native tensors.
    """

    def __init__(self, backend: Backend, config: AlbertConfig, task: str, params: dict[str, Any], dtype: str,
                 info: LoadInfo) -> None:
        self.backend, self.ops, self.config, self.task = backend, backend.ops, config, task
        self.params, self.dtype, self.load_info = params, dtype, info

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 head_mask=None, inputs_embeds=None, *, output_attentions: bool = False,
                 output_hidden_states: bool = False, training: bool = False, rng: Any = None,
                 **labels: Any) -> ModelOutput:
        arrays = prepare_inputs(self.config, self.task, self.ops.to_numpy, input_ids=input_ids,
                                attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds, **labels)
        native = {k: self.ops.asarray(v) for k, v in arrays.items()}
        return forward(self.ops, self.config, self.task, self.params, **native, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states, training=training, rng=rng)

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {name: self.ops.to_numpy(value) for name, value in self.params.items()}

    def __repr__(self) -> str:
        return (f"AlbertModel(task={self.task!r}, backend={self.backend.name!r}, dtype={self.dtype!r}, "
                f"hidden_size={self.config.hidden_size}, layers={self.config.num_hidden_layers})")
