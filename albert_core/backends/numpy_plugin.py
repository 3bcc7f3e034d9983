"""The core's own plugin: registers the NumPy backend and the HF safetensors folder format."""

from ..hookspecs import hookimpl


@hookimpl
def albert_core_register_backends(registry):
    registry.add("numpy", "albert_core.backends.numpy_backend:NumpyBackend", distribution="albert-core")


@hookimpl
def albert_core_register_formats(registry):
    registry.add("hf-safetensors", "albert_core.formats:HFSafetensorsFormat", distribution="albert-core")
