"""Aligned host buffers for loading: each tensor read once from the file into memory a framework can adopt."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .formats import tensor_shape

# Bytes: TensorFlow and XLA adopt a host buffer without copying only when it is this aligned.
HOST_ALIGNMENT = 64
_STREAM_BYTES = 16 << 20  # buffer for reading a transposed tensor in row chunks
_TRANSPOSE_ROWS = 16  # NumPy transposes a 16-row strip 3x faster than a 1024-row one (measured: cache, TLB)


def empty_aligned(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a `HOST_ALIGNMENT`-byte boundary."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + HOST_ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % HOST_ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def host_array(weights: Mapping[str, np.ndarray], name: str, *, transpose: bool = False) -> np.ndarray:
    """Parameter `name` as a fresh float32 host array the caller owns: aligned, so TF (via DLPack) and JAX
    (`may_alias=True`) can adopt it instead of copying, and filled straight from the file when the reader has
    `read_into`. `transpose=True` gives a 2-D tensor's transpose (a `[in, out]` kernel), streamed through a
    small row buffer, so loading never holds a second full-size copy of a tensor."""
    shape = tensor_shape(weights, name)
    read_into = getattr(weights, "read_into", None)
    if not transpose:
        out = empty_aligned(shape)
        if read_into is None or not read_into(name, out):
            out[...] = weights[name]
        return out
    rows, cols = shape
    out = empty_aligned((cols, rows))
    buffer = np.empty((max(1, min(rows, _STREAM_BYTES // max(1, 4 * cols))), cols), np.float32)
    for start in range(0, rows, len(buffer)):
        chunk = buffer[: min(len(buffer), rows - start)]
        if read_into is None or not read_into(name, chunk, start):
            out[...] = np.asarray(weights[name]).T  # a reader without row access: one temporary tensor
            break
        for row in range(0, len(chunk), _TRANSPOSE_ROWS):
            strip = chunk[row:row + _TRANSPOSE_ROWS]
            out[:, start + row:start + row + len(strip)] = strip.T
    return out
