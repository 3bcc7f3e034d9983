"""albert-tensorflow: the TensorFlow backend of albert-core (`albert_core.load(..., backend="tensorflow")`).

Importing this package does not import TensorFlow; `TFBackend`, `TFOps` and `AlbertTFModel` are imported
on first access.
"""

__version__ = "0.1.0"

_LAZY = {"TFBackend": "backend", "TFOps": "ops", "AlbertTFModel": "model"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AlbertTFModel", "TFBackend", "TFOps"]
