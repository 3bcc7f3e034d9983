"""Checkpoint formats: the `Checkpoint` a reader returns, and the built-in HF safetensors folder format."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import AlbertConfig
from .errors import BackendError, CheckpointError
from .safetensors_io import INDEX_NAME, WEIGHTS_NAME, CheckpointFolder, save_safetensors

CONFIG_NAME = "config.json"
TOKENIZER_NAME = "spiece.model"


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


class HFSafetensorsFormat:
    """An HF model folder: `config.json` plus `model.safetensors` (or a sharded index), `spiece.model` optional."""

    name = "hf-safetensors"
    description = "Hugging Face model folder (config.json + model.safetensors[.index.json])"

    def detect(self, path: str | os.PathLike) -> bool:
        p = Path(path)
        return p.is_dir() and (p / CONFIG_NAME).is_file() and (
            (p / WEIGHTS_NAME).is_file() or (p / INDEX_NAME).is_file())

    def read(self, path: str | os.PathLike) -> Checkpoint:
        p = Path(path)
        if not (p / CONFIG_NAME).is_file():
            hint = (" It looks like an original TensorFlow ALBERT checkpoint: install the albert-tensorflow plugin "
                    "(pip install albert-tensorflow), which reads it." if p.is_dir() and any(p.glob("*.index"))
                    else "")
            raise CheckpointError(f"{str(p)!r} has no {CONFIG_NAME}; an HF model folder needs one.{hint}")
        config = AlbertConfig.from_json_file(p / CONFIG_NAME)
        tokenizer = p / TOKENIZER_NAME
        return Checkpoint(config, CheckpointFolder(p), str(p),
                          tokenizer_file=tokenizer if tokenizer.is_file() else None,
                          architectures=_architectures(p / CONFIG_NAME))

    def write(self, path: str | os.PathLike, checkpoint: Checkpoint) -> None:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        checkpoint.config.to_json_file(p / CONFIG_NAME, architectures=checkpoint.architectures)
        save_safetensors({k: checkpoint.weights[k] for k in checkpoint.weights}, p / WEIGHTS_NAME)
        tokenizer = checkpoint.tokenizer_file
        if tokenizer is not None and Path(tokenizer).resolve() != (p / TOKENIZER_NAME).resolve():
            shutil.copyfile(checkpoint.tokenizer_file, p / TOKENIZER_NAME)


def _architectures(config_file: Path) -> list[str] | None:
    """The HF class names config.json records (AlbertConfig drops them); tells `convert` which head to write."""
    try:
        value = json.loads(config_file.read_text("utf-8")).get("architectures")
    except (OSError, ValueError, AttributeError):
        return None
    return [a for a in value if isinstance(a, str)] if isinstance(value, list) else None


def read_checkpoint(source: str | os.PathLike, format: str | None = None) -> tuple[str, Checkpoint]:
    """Read `source` with the named format, or with the first registered format that detects it."""
    from .plugins import manager

    registry = manager.formats
    if format is not None:
        return format, registry.get(format).read(source)
    if not Path(source).exists():
        raise CheckpointError(f"model source {os.fspath(source)!r} does not exist")
    for name in ["hf-safetensors", *(n for n in registry.names() if n != "hf-safetensors")]:
        try:
            fmt = registry.get(name)
        except BackendError:  # its framework is missing or the plugin is broken: it cannot be this format
            continue
        if fmt.detect(source):
            return name, fmt.read(source)
    # Not detected: the HF reader gives the most useful message (missing config, unsafe files...).
    return "hf-safetensors", registry.get("hf-safetensors").read(source)
