"""The NumPy reference backend, shaped like every backend distribution: `plugin` (registration), `ops` (the op
contract in NumPy), `backend` (the `Backend` the plugin's factory names)."""

from .backend import NumpyBackend
from .ops import NumpyOps

__all__ = ["NumpyBackend", "NumpyOps"]
