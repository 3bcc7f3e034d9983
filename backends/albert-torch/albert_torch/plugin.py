"""Entry point of the `albert_core` plugin group. Registering imports neither torch nor the backend module."""

from albert_core import hookimpl


@hookimpl
def albert_core_register_backends(registry):
    registry.add("torch", "albert_torch.backend:TorchBackend", framework="torch",
                 install_hint="pip install albert-torch torch", distribution="albert-torch")
