"""`TFBackend`: builds an `AlbertTFModel` from the core's lazy weights, one tensor at a time on the device."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from albert_core.backend import Backend, LoadInfo
from albert_core.checkpoints import host_array
from albert_core.config import AlbertConfig
from albert_core.errors import BackendError
from albert_core.layout import dense_weight_names, hf_layout, kernel_name
from albert_core.training.data_parallel import World, single
from albert_core.training.step import OptimizerOptions

from .model import AlbertTFModel
from .ops import TFOps, tf_dtype
from .training import TFTrainStep

_DEVICE = re.compile(r"^(cpu|gpu|cuda)(?::(\d+))?$")


def resolve_device(device: str | None) -> str:
    """`None`/"cpu" -> "/CPU:0"; "gpu", "gpu:1", "cuda:0" -> "/GPU:n" when TensorFlow sees that GPU."""
    text = "cpu" if device is None else str(device).strip().lower()
    match = _DEVICE.match(text)
    if text.startswith("/"):
        kind, _, index = text.lstrip("/").replace("device:", "").partition(":")
        match = _DEVICE.match(f"{kind}:{index or 0}")
    if match is None:
        raise BackendError(f"device {device!r} is not understood by backend 'tensorflow'; use 'cpu', 'gpu' or "
                           "'gpu:N'")
    kind, index = match.group(1), int(match.group(2) or 0)
    if kind == "cpu":
        return "/CPU:0"
    gpus = tf.config.list_logical_devices("GPU")
    if index >= len(gpus):
        raise BackendError(f"device {device!r}: TensorFlow sees {len(gpus)} GPU(s); use device='cpu' or one of "
                           f"{[f'gpu:{i}' for i in range(len(gpus))]}")
    return f"/GPU:{index}"


class TFBackend(Backend):
    name = "tensorflow"
    ops = TFOps()
    framework = "tensorflow"
    dtypes = ("float32", "bfloat16", "float16")
    supports_training = True

    def framework_version(self) -> str | None:
        return tf.__version__

    def check_device(self, device: str | None) -> None:
        resolve_device(device)

    def convert_params(self, weights: Mapping[str, np.ndarray], dtype: str, device: str | None,
                       trainable: bool = False, kernels: frozenset[str] = frozenset()) -> dict[str, tf.Variable]:
        """Host arrays -> `tf.Variable`s named by HF keys, created on `device` one at a time. Names in `kernels`
        become Keras-layout [in, out] `*.kernel`s: TF's CPU matmul is ~20% slower with transpose_b."""
        target = tf_dtype(dtype)
        resolved = resolve_device(device)
        params = {}
        with tf.device(resolved):
            for name in weights:
                host = host_array(weights, name, transpose=name in kernels)
                if resolved == "/CPU:0" and target == tf.float32:
                    # Adopt the aligned host buffer (DLPack) and let the variable keep it: one copy in all.
                    value = tf.experimental.dlpack.from_dlpack(host.__dlpack__())
                else:
                    value = tf.cast(tf.convert_to_tensor(host), target)
                del host
                key = kernel_name(name) if name in kernels else name
                params[key] = tf.Variable(value, trainable=trainable, name=key)
        return params

    def build(self, config: AlbertConfig, task: str, weights: Mapping[str, np.ndarray], *, dtype: str = "float32",
              device: str | None = None, trainable: bool = False, info: LoadInfo | None = None) -> AlbertTFModel:
        self.check_dtype(dtype)
        resolved = resolve_device(device)
        params = self.convert_params(weights, dtype, device, trainable, dense_weight_names(config, task))
        return AlbertTFModel(config, task, params, dtype=dtype, device=resolved, info=info or LoadInfo())

    def loss_and_grads(self, model: AlbertTFModel,
                       inputs: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        """Eval-mode loss and its gradient for every parameter, HF-named and in HF's layout (conformance hook)."""
        names = list(model.params)
        with tf.GradientTape() as tape:
            loss = model(**inputs).loss
        grads = tape.gradient(loss, [model.params[n] for n in names])
        grads = {n: tf.zeros_like(model.params[n]) if g is None else tf.convert_to_tensor(g)
                 for n, g in zip(names, grads)}
        return float(loss), {n: g.numpy() for n, g in hf_layout(grads, tf.transpose).items()}

    def train_step(self, model: AlbertTFModel, options: OptimizerOptions, world: World | None = None
                   ) -> TFTrainStep:
        if not all(v.trainable for v in model.params.values()):
            raise BackendError("fine-tuning needs the model's variables trainable: load it with trainable=True")
        return TFTrainStep(model, options, world)

    def data_parallel(self, mode: str, device: str | None = None) -> World:
        """`MultiWorkerMirroredStrategy` when `TF_CONFIG` describes a cluster; else `MirroredStrategy` over this
        machine's GPUs, or over its logical CPUs when there is no GPU and the CPU is split in several
        (`tf.config.set_logical_device_configuration`)."""
        if mode == "off":
            return single(mode, self.name)
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster")
        if cluster:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            kind, index = strategy.cluster_resolver.task_type, int(strategy.cluster_resolver.task_id)
            rank = 0 if kind == "chief" else len(cluster.get("chief", ())) + index  # the chief, else worker 0, writes
            processes = sum(len(hosts) for hosts in cluster.values())
            engine = "tf.distribute.MultiWorkerMirroredStrategy"
        else:
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            if len(devices) == 1:
                return single(mode, self.name)
            strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
            rank, processes, engine = 0, 1, f"tf.distribute.MirroredStrategy over {len(devices)} devices"
        return World(rank=rank, processes=processes, replicas=strategy.num_replicas_in_sync, engine=engine,
                     handle=strategy)
