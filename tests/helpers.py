"""Small configs, models, weights and checkpoint writers shared by the core tests."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np

import albert_core
from albert_core import AlbertConfig

TINY = dict(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=4, num_hidden_groups=2,
            inner_group_num=2, num_attention_heads=2, intermediate_size=24, max_position_embeddings=32)


def tiny_config(**overrides) -> AlbertConfig:
    return AlbertConfig(**{**TINY, **overrides})


def tiny_model(task="base", dtype="float64", **overrides):
    """A seeded random model of the tiny config on the NumPy backend (float64: the reference numerics)."""
    cfg = tiny_config(**overrides)
    return albert_core.load(albert_core.Checkpoint(cfg, albert_core.init_params(cfg, task, 7)), task=task, dtype=dtype)


def pretraining_tensors(cfg, seed=0):
    """Seeded random weights of every pretraining head (the canonical HF names)."""
    return albert_core.init_params(cfg, "pretraining", seed)


def write_folder(folder: Path, config: AlbertConfig, tensors: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(folder / "config.json")
    albert_core.checkpoints.save_safetensors(tensors, folder / "model.safetensors")
    return folder


def write_raw_safetensors(path: Path, header: dict | str, data: bytes = b"") -> Path:
    raw = header if isinstance(header, str) else json.dumps(header)
    blob = raw.encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def varied_texts(count: int, seed: int = 0) -> list[str]:
    """Seeded random texts built from pieces that stress tokenizers: quotes, digit-comma splits, Unicode
    normalisation, CJK, emoji, special-token look-alikes, whitespace of every kind."""
    alphabet = [
        "the",
        "The",
        "Quick",
        "brown",
        "fox",
        "assert",
        '"',
        "``",
        "''",
        "'",
        ",",
        ".",
        "9,9",
        "1,000",
        "a1,b",
        "2019,",
        "１２，３",
        "²,",
        " ",
        "  ",
        "\t",
        "\n",
        "\u00a0",
        "\u3000",
        "café",
        "naïve",
        "Ångström",
        "İstanbul",
        "ΟΔΟΣ",
        "straße",
        "ﬁ",
        "①,",
        "日本語",
        "中文",
        "한국어",
        "🤔",
        "👍🏽",
        "e\u0301",
        "[MASK]",
        "[mask]",
        "<UNK>",
        "<unk>",
        "[CLS]",
        "[SEP]",
        "<pad>",
        "(",
        ")",
        "-",
        "–",
        "£",
        "€",
        "don't",
        "x" * 30,
        "\u200b",
        "Ⅻ",
        "™",
    ]
    rng = random.Random(seed)
    return [
        "".join(rng.choice(alphabet) + rng.choice(["", " "]) for _ in range(rng.randint(0, 12))) for _ in range(count)
    ]
