"""The core's backend plugin: registers the NumPy reference backend through the same hook as any other."""

from ..hookspecs import hookimpl


@hookimpl
def albert_core_register_backends(registry):
    registry.add("numpy", "albert_core.numpy_backend.backend:NumpyBackend", distribution="albert-core")
