"""albert-core: ALBERT on PyTorch, JAX or TensorFlow from the same safetensors weights.

Importing this package imports no framework; a backend's framework is imported when it is first used.
"""

from . import safetensors_io  # noqa: F401  (public submodule: albert_core.safetensors_io)
from .api import load, random_checkpoint, save
from .backend import AlbertModel, Backend, LoadInfo
from .config import PRESETS, AlbertConfig
from .errors import (
    AlbertError,
    BackendError,
    CheckpointError,
    ConfigError,
    InputError,
    InputTypeError,
    PluginError,
    TokenizerError,
    TokenizerTypeError,
)
from .formats import Checkpoint
from .hookspecs import hookimpl
from .layout import TASKS, init_params, param_table
from .model import ModelOutput
from .ops import Ops
from .plugins import available_backends, get_backend

__version__ = "0.1.0"


def __getattr__(name: str):
    # The tokenizer and pipelines load lazily: they pull in sentencepiece and more.
    if name == "AlbertTokenizer":
        from .tokenizer import AlbertTokenizer

        return AlbertTokenizer
    if name == "pipeline":
        from .pipelines import pipeline

        return pipeline
    raise AttributeError(f"module 'albert_core' has no attribute {name!r}")


__all__ = [
    "PRESETS", "TASKS", "AlbertConfig", "AlbertError", "AlbertModel", "AlbertTokenizer", "Backend", "BackendError",
    "Checkpoint", "CheckpointError", "ConfigError", "InputError", "InputTypeError", "LoadInfo", "ModelOutput", "Ops",
    "PluginError", "TokenizerError", "TokenizerTypeError", "available_backends", "get_backend", "hookimpl",
    "init_params", "load", "param_table", "pipeline", "random_checkpoint", "save",
]
