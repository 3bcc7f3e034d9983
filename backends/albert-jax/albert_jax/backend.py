"""`JaxBackend`: builds an `AlbertJaxModel` from the core's lazy weights, one tensor at a time."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from albert_core.backend import Backend, LoadInfo
from albert_core.checkpoints import host_array
from albert_core.config import AlbertConfig
from albert_core.errors import BackendError
from albert_core.layout import dense_weight_names, hf_layout, kernel_name
from albert_core.model import forward
from albert_core.training.data_parallel import World, single
from albert_core.training.step import OptimizerOptions

from .model import OPS, AlbertJaxModel
from .training import JaxTrainStep

_DEVICE_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu", "tpu": "tpu"}


def resolve_device(device: Any) -> jax.Device:
    """None/"cpu" -> the first CPU device; "gpu"/"cuda" (optionally ":N") -> that GPU; a jax.Device as is."""
    if isinstance(device, jax.Device):
        return device
    if device is None:
        return jax.local_devices(backend="cpu")[0]
    if not isinstance(device, str):
        raise BackendError(f"device must be a string such as 'cpu' or 'gpu:0', or a jax.Device; got {device!r}")
    kind, _, index_text = device.lower().partition(":")
    platform = _DEVICE_ALIASES.get(kind)
    if platform is None:
        raise BackendError(f"device {device!r} is not known to backend 'jax'; use 'cpu', 'gpu' (or 'cuda'), "
                           "'gpu:N', or a jax.Device")
    try:
        devices = jax.local_devices(backend=platform)  # this process's (all of them, without jax.distributed)
    except RuntimeError:
        devices = []
    if not devices:
        available = sorted({d.platform for d in jax.devices()})
        raise BackendError(f"device {device!r} is not available to JAX on this machine (platforms: {available}); "
                           f"use device='cpu' or install a jax build for {platform}")
    index = int(index_text) if index_text.isdigit() else 0
    if index >= len(devices):
        raise BackendError(f"device {device!r}: JAX sees {len(devices)} {platform} device(s), indices "
                           f"0..{len(devices) - 1}")
    return devices[index]


@functools.lru_cache(maxsize=8)
def _eval_loss_and_grads(config_json: str, task: str):
    """The jitted eval-mode loss and gradient for one (config, task), compiled once per process and shape."""
    config = AlbertConfig.from_dict(json.loads(config_json))

    def loss(params, inputs):
        return forward(OPS, config, task, hf_layout(params, jnp.transpose), **inputs)["loss"]
    return jax.jit(jax.value_and_grad(loss))


class JaxBackend(Backend):
    name = "jax"
    ops = OPS
    framework = "jax"
    dtypes = ("float32", "bfloat16", "float16")
    supports_training = True

    def check_device(self, device: Any) -> None:
        resolve_device(device)

    def convert_params(self, weights: Mapping[str, np.ndarray], dtype: str, device: Any,
                       kernels: frozenset[str] = frozenset()) -> dict[str, jax.Array]:
        """Host arrays -> jax.Arrays on `device`, one at a time; names in `kernels` become [in, out] kernels."""
        target = resolve_device(device)
        jdtype = jnp.dtype(dtype)
        params = {}
        for name in weights:
            # A fresh aligned host array (cast on the host; ml_dtypes handles bfloat16) that nobody else holds:
            # on the CPU, XLA adopts it instead of copying, so loading peaks at one copy of the weights.
            host = host_array(weights, name, transpose=name in kernels).astype(jdtype, copy=False)
            params[kernel_name(name) if name in kernels else name] = jax.device_put(host, target, may_alias=True)
        return params

    def build(self, config: AlbertConfig, task: str, weights: Mapping[str, np.ndarray], *, dtype: str = "float32",
              device: Any = None, trainable: bool = False, info: LoadInfo | None = None) -> AlbertJaxModel:
        # `trainable` needs nothing extra: JAX params are always differentiable arrays.
        self.check_dtype(dtype)
        target = resolve_device(device)
        params = self.convert_params(weights, dtype, target, dense_weight_names(config, task))
        return AlbertJaxModel(config, task, params, dtype, target, info, backend=self)

    def loss_and_grads(self, model: AlbertJaxModel,
                       inputs: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        """Eval-mode loss and its gradient for every parameter, HF-named host arrays in HF's layout (conformance
        hook)."""
        native = {k: jnp.asarray(v) for k, v in inputs.items()}
        loss, grads = _eval_loss_and_grads(json.dumps(model.config.to_dict(), sort_keys=True), model.task)(
            model.params, native)
        return float(loss), hf_layout({n: np.asarray(g, dtype=np.float32) for n, g in grads.items()}, np.transpose)

    def train_step(self, model: AlbertJaxModel, options: OptimizerOptions, world: World | None = None
                   ) -> JaxTrainStep:
        return JaxTrainStep(model, options, world)

    def data_parallel(self, mode: str, device: Any = None) -> World:
        """A mesh over every device of the platform `device` names, when there are several: GPUs, or host CPUs
        split with `XLA_FLAGS=--xla_force_host_platform_device_count=N`; across processes when
        `JAX_COORDINATOR_ADDRESS` (with `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`) asks for
        `jax.distributed.initialize` (on CPU, over gloo). Process 0 writes."""
        if mode == "off":
            return single(mode, self.name)
        if os.environ.get("JAX_COORDINATOR_ADDRESS") and not jax.distributed.is_initialized():
            if device is None or str(device).startswith("cpu"):  # before JAX starts its CPU client
                jax.config.update("jax_cpu_collectives_implementation", "gloo")
            given = {k: int(os.environ[v]) for k, v in (("num_processes", "JAX_NUM_PROCESSES"),
                                                         ("process_id", "JAX_PROCESS_ID")) if v in os.environ}
            jax.distributed.initialize(**given)
        devices = jax.devices(resolve_device(device).platform)  # every process's
        if len(devices) == 1:
            return single(mode, self.name)
        processes = jax.process_count()
        return World(rank=jax.process_index(), processes=processes, replicas=len(devices), mesh=True,
                     engine=f"jax.sharding: a {len(devices)}-device {devices[0].platform} mesh on the data axis"
                            + (f" over {processes} processes" if processes > 1 else ""))
