"""Entry point of the `albert_core` plugin group. Registering imports neither onnx nor onnxruntime."""

from albert_core import hookimpl


@hookimpl
def albert_core_register_backends(registry):
    registry.add("onnxruntime", "albert_onnx.backend:OnnxRuntimeBackend", framework="onnxruntime",
                 install_hint="pip install albert-onnx onnx onnxruntime", distribution="albert-onnx")
