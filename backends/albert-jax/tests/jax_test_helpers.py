"""Helpers for the JAX backend's own tests: tiny random configs, loaded through `albert_core.load`.

(Not named conftest.py: the parity folder has one, and a combined pytest run must import both.)"""

from __future__ import annotations

import albert_core as ac

TINY = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
            inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
            hidden_act="gelu_new", classifier_dropout_prob=0.0, layer_norm_eps=1e-12)


def tiny_config(**overrides) -> ac.AlbertConfig:
    return ac.AlbertConfig(**{**TINY, **overrides})


def load_tiny(task: str, backend: str = "jax", dtype: str = "float32", seed: int = 0, **overrides):
    config = tiny_config(**overrides)
    ckpt = ac.Checkpoint(config, ac.init_params(config, task, seed), source="tiny")
    return ac.load(ckpt, backend=backend, task=task, dtype=dtype)
