"""Checkpoint formats: the `Checkpoint` every format reader returns, and reading a source with the format that
detects it (formats are registered through the plugin hooks, the built-in HF folder format included)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import AlbertConfig
from ..errors import CheckpointError, FormatError
from ..plugins import manager

HF_FORMAT = "hf-safetensors"  # the built-in format: tried first, and the one whose reader explains a failure


@dataclass
class Checkpoint:
    """A model as a format reader returns it: config, HF-named float arrays (possibly lazy), and a report."""

    config: AlbertConfig
    weights: Mapping[str, np.ndarray]
    source: str = ""
    skipped: list[str] = field(default_factory=list)  # entries deliberately dropped (optimizer slots...)
    tokenizer_file: Path | None = None
    architectures: list[str] | None = None

    def shape(self, name: str) -> tuple[int, ...]:
        return tensor_shape(self.weights, name)


def tensor_shape(weights: Mapping[str, np.ndarray], name: str) -> tuple[int, ...]:
    """A tensor's shape, from the mapping's `shape(name)` when it has one (lazy readers), else by reading it."""
    shape_of = getattr(weights, "shape", None)
    return tuple(shape_of(name)) if callable(shape_of) else tuple(np.shape(weights[name]))


def read_checkpoint(source: str | os.PathLike, format: str | None = None) -> tuple[str, Checkpoint]:
    """Read `source` with the named format, or with the first registered format that detects it."""
    registry = manager.formats
    if format is not None:
        return format, registry.get(format).read(source)
    if not Path(source).exists():
        raise CheckpointError(f"model source {os.fspath(source)!r} does not exist")
    for name in [HF_FORMAT, *(n for n in registry.names() if n != HF_FORMAT)]:
        try:
            fmt = registry.get(name)
        except FormatError:  # its framework is missing or the plugin is broken: it cannot be this format
            continue
        if fmt.detect(source):
            return name, fmt.read(source)
    # Not detected: the HF reader gives the most useful message (missing config, unsafe files...).
    return HF_FORMAT, registry.get(HF_FORMAT).read(source)
