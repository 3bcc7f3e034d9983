"""Entry-point plugin: registers the JAX backend by name only; nothing here imports JAX."""

from albert_core.hookspecs import hookimpl


@hookimpl
def albert_core_register_backends(registry):
    registry.add("jax", "albert_jax.backend:JaxBackend", framework="jax",
                 install_hint="pip install albert-jax jax", distribution="albert-jax")
