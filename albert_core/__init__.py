"""albert-core: ALBERT on PyTorch, JAX or TensorFlow from the same safetensors weights.

Importing this package imports no framework; a backend's framework is imported when it is first used.
"""

import sys as _sys
import types as _types

from . import checkpoints, numpy_backend  # noqa: F401  (numpy_backend: for MOVED_MODULES)
from .api import load, random_checkpoint, save
from .backend import AlbertModel, Backend, LoadedModel, LoadInfo, OpsModel
from .checkpoints import Checkpoint
from .config import MAX_LAYER_PASSES, PRESETS, AlbertConfig, allow_layer_passes
from .errors import (
    AlbertError,
    BackendError,
    CheckpointError,
    ConfigError,
    DataError,
    FormatError,
    InputError,
    InputTypeError,
    PluginError,
    TokenizerError,
    TokenizerTypeError,
    TrainingError,
)
from .hookspecs import hookimpl
from .layout import TASKS, init_params, param_table
from .model import ModelOutput
from .ops import Ops
from .plugins import available_backends, get_backend

__version__ = "0.1.0"

# Import paths from before the subsystem packages, kept working: old module -> the (already imported) new one.
MOVED_MODULES = {"formats": "checkpoints.formats", "safetensors_io": "checkpoints.safetensors_file",
                 "convert": "checkpoints.convert", "backends.numpy_backend": "numpy_backend"}
backends = _types.ModuleType(f"{__name__}.backends", "Moved: the NumPy backend is albert_core.numpy_backend.")
backends.__path__ = []  # a package, so `albert_core.backends.numpy_backend` imports
_sys.modules[backends.__name__] = backends
for _old, _new in MOVED_MODULES.items():
    _parent, _, _leaf = f"{__name__}.{_old}".rpartition(".")
    _sys.modules[f"{__name__}.{_old}"] = _sys.modules[f"{__name__}.{_new}"]
    setattr(_sys.modules[_parent], _leaf, _sys.modules[f"{__name__}.{_new}"])


def __getattr__(name: str):
    # The tokenizer and pipelines load lazily: they pull in sentencepiece and more.
    if name == "AlbertTokenizer":
        from .tokenizer import AlbertTokenizer

        return AlbertTokenizer
    if name == "pipeline":
        from .pipelines import pipeline

        return pipeline
    if name in ("finetune", "TrainingOptions"):
        from .training import options, trainer

        return trainer.finetune if name == "finetune" else options.TrainingOptions
    if name == "pretrain":
        from .pretraining import trainer as pretraining_trainer

        return pretraining_trainer.pretrain
    raise AttributeError(f"module 'albert_core' has no attribute {name!r}")


__all__ = [
    "MAX_LAYER_PASSES", "PRESETS", "TASKS", "AlbertConfig", "AlbertError", "AlbertModel", "AlbertTokenizer",
    "Backend", "BackendError",
    "Checkpoint", "CheckpointError", "ConfigError", "DataError", "FormatError", "InputError", "InputTypeError",
    "LoadInfo", "LoadedModel", "ModelOutput", "Ops", "OpsModel", "PluginError", "TokenizerError", "TokenizerTypeError",
    "TrainingError", "TrainingOptions", "allow_layer_passes", "finetune", "pretrain",
    "available_backends", "get_backend", "hookimpl", "init_params", "load", "param_table", "pipeline",
    "random_checkpoint", "save",
]
