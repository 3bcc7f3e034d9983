"""JAX backend for albert-core. The names below load lazily, so that plugin discovery (which imports
`albert_jax.plugin`, and therefore this package) never imports JAX."""

from __future__ import annotations

_LAZY = {"JaxBackend": "backend", "AlbertJaxModel": "model", "JaxOps": "ops"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AlbertJaxModel", "JaxBackend", "JaxOps"]
