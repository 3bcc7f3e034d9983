"""`NumpyBackend`: the reference backend, the oracle of the conformance suite and the smallest template for a
new one. float64 is the oracle dtype; float32 and float16 are supported too."""

from __future__ import annotations

from ..backend import Backend
from .ops import NumpyOps


class NumpyBackend(Backend):
    name = "numpy"
    ops = NumpyOps()
    framework = "numpy"
    dtypes = ("float32", "float64", "float16")
