"""`TorchBackend`: builds an `AlbertTorchModel` and fills it from the lazy checkpoint one tensor at a time."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import numpy as np
import torch
import torch.distributed as dist

from albert_core.backend import Backend, LoadInfo
from albert_core.config import AlbertConfig
from albert_core.errors import BackendError
from albert_core.training.data_parallel import World, single
from albert_core.training.step import OptimizerOptions

from .model import AlbertTorchModel
from .ops import DTYPES, TorchOps
from .training import TorchTrainStep


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` -> CPU; anything else must parse as a torch device that is present on this machine."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"device {device!r} is not a torch device ({exc}); use 'cpu', 'cuda' or 'cuda:N'") \
            from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise BackendError(f"device {device!r} was requested but torch sees no CUDA device; load with "
                               "device='cpu' (the default) or install a CUDA build of torch")
        if dev.index is not None and dev.index >= count:
            raise BackendError(f"device {device!r} does not exist: torch sees {count} CUDA device(s), "
                               f"cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise BackendError(f"device {device!r} is not available on this machine; use device='cpu'")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise BackendError(f"device {device!r} is not supported by backend 'torch'; use 'cpu' or 'cuda'")
    return dev


# Those torch can view as NumPy arrays.
_NUMPY_DTYPES = {torch.float32: np.dtype("float32"), torch.float64: np.dtype("float64"),
                 torch.float16: np.dtype("float16")}


class TorchBackend(Backend):
    name = "torch"
    ops = TorchOps("cpu")
    framework = "torch"
    dtypes = ("float32", "bfloat16", "float16", "float64")
    supports_training = True

    def build(self, config: AlbertConfig, task: str, weights: Mapping[str, np.ndarray], *, dtype: str = "float32",
              device: str | torch.device | None = None, trainable: bool = False,
              info: LoadInfo | None = None) -> AlbertTorchModel:
        self.check_dtype(dtype)
        dev = resolve_device(device)
        if dtype == "float64" and dev.type == "mps":
            raise BackendError("dtype 'float64' is not supported on device 'mps'; use float32")
        model = AlbertTorchModel(config, task, info, dtype=DTYPES[dtype], device=dev)
        params = dict(model.named_parameters())
        mapped, read_into = getattr(weights, "mapped", None), getattr(weights, "read_into", None)
        with torch.no_grad(), warnings.catch_warnings():
            # Memory-mapped checkpoint arrays are read-only; torch warns on viewing them, but we only read.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            for name in weights:
                param = params[name]
                on_host = param.device.type == "cpu" and param.dtype in _NUMPY_DTYPES
                # No copy: a CPU parameter of the stored dtype becomes a copy-on-write map of the file (as HF's
                # safetensors loading does), sharing the page cache. Else one copy: read into the parameter.
                view = mapped(name) if on_host and mapped is not None else None
                if view is not None and view.dtype == _NUMPY_DTYPES[param.dtype] and \
                        view.ctypes.data % view.itemsize == 0:
                    param.data = torch.from_numpy(view)
                    continue
                if on_host and read_into is not None and read_into(name, param.numpy()):
                    continue
                param.copy_(torch.from_numpy(np.asarray(weights[name])))
        for p in params.values():
            p.requires_grad_(trainable)
        return model.eval()

    def loss_and_grads(self, model: AlbertTorchModel,
                       inputs: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        """Eval-mode loss and its gradient for every parameter, HF-named host arrays (conformance hook)."""
        model.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        loss.backward()
        grads = {name: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().cpu().numpy()
                 for name, p in model.named_parameters()}
        model.zero_grad(set_to_none=True)
        return float(loss.detach()), grads

    def train_step(self, model: AlbertTorchModel, options: OptimizerOptions, world: World | None = None
                   ) -> TorchTrainStep:
        return TorchTrainStep(model, options, world or World())

    def data_parallel(self, mode: str, device: str | None = None) -> World:
        """torchrun's processes (`WORLD_SIZE` > 1 in the environment): one DistributedDataParallel replica each, over
        gloo on CPU or nccl on CUDA (each process on its `LOCAL_RANK`'s GPU)."""
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        if mode == "off" or processes == 1:
            return single(mode, self.name)
        cuda = resolve_device(device).type == "cuda"
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        local = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else None
        return World(rank=dist.get_rank(), processes=processes, replicas=processes, device=local,
                     engine=f"torchrun, DistributedDataParallel over {dist.get_backend()}")
