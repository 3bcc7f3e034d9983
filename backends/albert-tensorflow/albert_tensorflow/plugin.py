"""Entry point of the albert-tensorflow distribution: registers the backend by name only.

Nothing here imports TensorFlow; the factory strings are imported the first time the backend (or the
TF1 checkpoint format) is used.
"""

from albert_core import hookimpl


@hookimpl
def albert_core_register_backends(registry):
    registry.add("tensorflow", "albert_tensorflow.backend:TFBackend", framework="tensorflow",
                 install_hint="pip install albert-tensorflow", distribution="albert-tensorflow")


@hookimpl
def albert_core_register_formats(registry):
    registry.add("tf1-checkpoint", "albert_tensorflow.tf1_checkpoint:TF1CheckpointFormat", framework="tensorflow",
                 install_hint="pip install albert-tensorflow", distribution="albert-tensorflow")
