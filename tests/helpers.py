"""Small configs and checkpoint writers shared by the core tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

import albert_core
from albert_core import AlbertConfig

TINY = dict(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=4, num_hidden_groups=2,
            inner_group_num=2, num_attention_heads=2, intermediate_size=24, max_position_embeddings=32)


def tiny_config(**overrides) -> AlbertConfig:
    return AlbertConfig(**{**TINY, **overrides})


def write_folder(folder: Path, config: AlbertConfig, tensors: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(folder / "config.json")
    albert_core.safetensors_io.save_safetensors(tensors, folder / "model.safetensors")
    return folder


def write_raw_safetensors(path: Path, header: dict | str, data: bytes = b"") -> Path:
    raw = header if isinstance(header, str) else json.dumps(header)
    blob = raw.encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path
