"""`Backend`: what a plugin's factory returns; `LoadedModel`: what every backend's loaded model provides; and
`OpsModel`, the generic model object a backend without a native model class returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .bucketing import BucketedCall
from .checkpoints.host import HOST_ALIGNMENT, empty_aligned, host_array  # noqa: F401  (an earlier documented path)
from .config import AlbertConfig
from .errors import BackendError
from .model import ModelOutput, forward
from .ops import Ops


@dataclass
class LoadInfo:
    """What loading did: where the weights came from, which tensors were initialised or left unused."""

    source: str = ""
    initialized: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # checkpoint entries a format reader dropped


@runtime_checkable
class LoadedModel(Protocol):
    """What `albert_core.load` returns on every backend, whatever its native type (an `OpsModel`, an
    `nn.Module`, a JAX params holder, a `tf.Module`); the conformance suite checks each backend's model."""

    config: AlbertConfig
    task: str
    load_info: LoadInfo

    @property
    def dtype(self) -> str:
        """The parameters' dtype, as the op contract names it ("float32", "bfloat16", ...)."""

    @property
    def ops(self) -> Ops:
        """The backend's ops for this model (its `to_numpy` turns the model's outputs into host arrays)."""

    def numpy_params(self) -> dict[str, np.ndarray]:
        """HF-named float32 host arrays in HF's layout: what `albert_core.save` writes."""

    def __call__(self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None,
                 position_ids: Any = None, head_mask: Any = None, inputs_embeds: Any = None, **kwargs: Any) -> Any:
        """HF's arguments (validated on the host first) and labels -> a `ModelOutput` of native tensors."""


class Backend:
    """A compute backend. Subclasses set `name`, `ops`, `framework`, `dtypes`, and may override `build`.

    The default `build` returns an `OpsModel` (host validation + the core model on `ops`), which is all
    a new backend needs; framework backends return native objects (an `nn.Module`, a params pytree with a
    jitted apply, a `tf.Module`) built on the same pieces. Every one satisfies `LoadedModel`.
    """

    name: str = "abstract"
    ops: Ops
    framework: str | None = None  # import name of the framework, for versions and messages
    dtypes: tuple[str, ...] = ("float32",)
    supports_training: bool = False  # `trainable=True` loads work and `loss_and_grads` is implemented
    # Known conformance gaps: op name or test-name pattern -> reason (strict expected failures; see
    # docs/conformance.md).
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
        return OpsModel(self, config, task, self.convert_params(weights, dtype, device), dtype, info or LoadInfo())

    def loss_and_grads(self, model: Any, inputs: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        """The eval-mode loss of `model(**inputs)` (`inputs` hold the task's labels; dropout off) and its gradient
        with respect to every parameter, keyed by HF name, as host arrays in HF's layout.

        Backends that declare `supports_training` implement it with their framework's autodiff; the conformance
        suite checks it against finite differences of the NumPy float64 loss.
        """
        raise BackendError(f"backend {self.name!r} does not support training, so it has no gradients; "
                           "use a backend with supports_training (torch, jax, tensorflow)")

    def train_step(self, model: Any, options: Any, world: Any = None) -> Any:
        """The optimizer step that fine-tuning runs on this backend: a `albert_core.training.step.TrainStep` for
        `model` (loaded with `trainable=True`) with AdamW, the schedule, clipping, accumulation, bf16 and gradient
        checkpointing as `options` (an `OptimizerOptions`) says, over the data-parallel replicas of `world` (what
        `data_parallel` returned; None: one). This is the one piece a backend writes to be trained; its contract is
        in `albert_core/training/step.py` and `docs/writing-a-backend.md`. (The types are not imported here: the
        training package sits above this module, it loads models through `albert_core.api`.)
        """
        raise BackendError(f"backend {self.name!r} cannot fine-tune (it has no train_step); use a backend that "
                           "can: torch, jax or tensorflow")

    def data_parallel(self, mode: str, device: str | None = None) -> Any:
        """The data-parallel replicas a run on this backend trains over (an
        `albert_core.training.data_parallel.World`), for `--distributed` `mode` ("auto": what the launcher's
        environment or the devices offer; "off"; "on": an error unless there are several). Called once per run,
        before the model loads; a backend that scales out sets up its engine here (a process group, a device mesh,
        a strategy). The default, None: one replica (and under "on", the trainer's error)."""
        return None


class OpsModel(BucketedCall):
    """The generic loaded model: the core forward on a backend's `ops`, for backends without a native model class.
    Call it with HF's argument names, get HF's output fields (the core's call path, without padding: nothing
    compiles, so every length runs as it is).

    Inputs may be NumPy arrays, nested lists or the backend's tensors; they are validated on the host
    first. Outputs are the backend's native tensors.
    """

    def __init__(self, backend: Backend, config: AlbertConfig, task: str, params: dict[str, Any], dtype: str,
                 info: LoadInfo) -> None:
        self.backend, self.ops, self.config, self.task = backend, backend.ops, config, task
        self.params, self.dtype, self.load_info = params, dtype, info
        self.bucket_multiple = 1

    def run_bucket(self, inputs: dict[str, np.ndarray], *, rng: Any, output_attentions: bool,
                   output_hidden_states: bool, training: bool) -> ModelOutput:
        native = {k: self.ops.asarray(v) for k, v in inputs.items()}
        return forward(self.ops, self.config, self.task, self.params, **native, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states, training=training, rng=rng)

    def to_native(self, name: str, value: np.ndarray) -> Any:
        return self.ops.asarray(value)

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {name: self.ops.to_numpy(value) for name, value in self.params.items()}

    def __repr__(self) -> str:
        return (f"OpsModel(task={self.task!r}, backend={self.backend.name!r}, dtype={self.dtype!r}, "
                f"hidden_size={self.config.hidden_size}, layers={self.config.num_hidden_layers})")


AlbertModel = OpsModel  # its first name, kept for existing code (HF's `AlbertModel` is the headless base)
