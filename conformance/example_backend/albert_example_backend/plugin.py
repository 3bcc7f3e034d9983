"""Registers the backend. Runs at plugin discovery, so it imports nothing heavy: only names and strings."""

import albert_core

from . import BACKEND_NAME


@albert_core.hookimpl
def albert_core_register_backends(registry):
    registry.add(BACKEND_NAME, "albert_example_backend.backend:ExampleBackend", framework="numpy",
                 install_hint="pip install albert-example-backend", distribution="albert-example-backend")
