"""Model cases: small configs, seeded weights and inputs that together exercise every part of the model.

Weights are regenerated from a seed (the golden files stay small) by `case_weights`, which, unlike a fresh
HF init, gives biases and layer-norm parameters random values too, so a head that drops a bias or swaps a
norm's scale and shift changes the outputs. `initializer_range` 0.2 puts pre-activations at unit scale, so
the activations and the attention softmax work in their non-linear range.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from albert_core import AlbertConfig, param_table

TINY = dict(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_hidden_groups=1,
            num_attention_heads=2, intermediate_size=32, inner_group_num=1, max_position_embeddings=24,
            initializer_range=0.2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            classifier_dropout_prob=0.0)


def make_config(num_labels: int | None = None, **overrides: Any) -> AlbertConfig:
    config = AlbertConfig(**{**TINY, **overrides})
    return config.with_labels(num_labels) if num_labels is not None else config


def case_weights(config: AlbertConfig, task: str, seed: int) -> dict[str, np.ndarray]:
    """float64 weights for every parameter of `task`, each from its own stream keyed by (seed, name)."""
    out = {}
    for spec in param_table(config, task):
        rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
        if spec.init == "normal":
            value = rng.normal(0.0, config.initializer_range, spec.shape)
        else:
            value = rng.normal(1.0 if spec.init == "ones" else 0.0, 0.1, spec.shape)
        out[spec.name] = value
    return out


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    """Fingerprint of regenerated weights, stored in each golden so a change in generation is caught."""
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode())
        h.update(np.round(weights[name].astype(np.float64), 12).tobytes())
    return h.hexdigest()[:16]


Inputs = Callable[[np.random.Generator, AlbertConfig], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ModelCase:
    name: str
    task: str
    config: dict[str, Any]
    inputs: Inputs
    seed: int = 0
    flags: dict[str, bool] = field(default_factory=dict)  # output_hidden_states / output_attentions

    def build_config(self) -> AlbertConfig:
        return make_config(**self.config)

    def build_inputs(self) -> dict[str, np.ndarray]:
        return self.inputs(np.random.default_rng([self.seed, zlib.crc32(self.name.encode())]), self.build_config())


def padded_mask(lengths: list[int], seq: int) -> np.ndarray:
    return (np.arange(seq)[None, :] < np.array(lengths)[:, None]).astype(np.int64)


def ids(rng: np.random.Generator, c: AlbertConfig, *shape: int) -> np.ndarray:
    return rng.integers(0, c.vocab_size, shape, dtype=np.int64)


def _base_groups(rng, c):
    mask = padded_mask([7, 5, 2], 7)
    head_mask = np.ones((c.num_hidden_layers, c.num_attention_heads))
    head_mask[1, 0], head_mask[3, 1] = 0.0, 0.5
    return dict(input_ids=ids(rng, c, 3, 7), attention_mask=mask, head_mask=head_mask,
                token_type_ids=(np.arange(7)[None, :] >= 3).astype(np.int64).repeat(3, 0))


def _pretraining(rng, c):
    labels = np.where(rng.random((2, 6)) < 0.5, ids(rng, c, 2, 6), -100)
    labels[0, 0] = 5
    return dict(input_ids=ids(rng, c, 2, 6), attention_mask=padded_mask([6, 4], 6), labels=labels,
                sentence_order_label=np.array([0, 1]))


def _masked_lm(rng, c):
    labels = np.full((2, 9), -100)
    labels[:, 2], labels[1, 5] = 7, 11
    return dict(input_ids=ids(rng, c, 2, 9), attention_mask=padded_mask([9, 6], 9), labels=labels)


def _seq_single(rng, c):
    return dict(input_ids=ids(rng, c, 3, 5), attention_mask=padded_mask([5, 3, 1], 5), labels=np.array([2, 0, -100]),
                head_mask=np.array([1.0, 0.0]))


def _seq_regression(rng, c):
    return dict(input_ids=ids(rng, c, 2, 6), labels=np.array([0.5, -1.25], dtype=np.float32))


def _seq_multilabel(rng, c):
    return dict(input_ids=ids(rng, c, 2, 4), attention_mask=padded_mask([4, 2], 4),
                labels=np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=np.float32))


def _token(rng, c):
    labels = rng.integers(0, c.num_labels, (2, 6))
    labels[1, 4:] = -100
    return dict(input_ids=ids(rng, c, 2, 6), attention_mask=padded_mask([6, 4], 6), labels=labels,
                token_type_ids=np.array([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 0, 0]]))


def _qa(rng, c):
    # Position 40 is past the sequence: clamped to S and ignored, as HF does.
    return dict(input_ids=ids(rng, c, 3, 8), attention_mask=padded_mask([8, 8, 5], 8),
                start_positions=np.array([1, 40, 3]), end_positions=np.array([4, 6, 3]))


def _multiple_choice(rng, c):
    mask = np.stack([padded_mask([6, 4, 5], 6), padded_mask([3, 6, 6], 6)])
    return dict(input_ids=ids(rng, c, 2, 3, 6), attention_mask=mask, labels=np.array([2, 0]))


def _embeds(rng, c):
    return dict(inputs_embeds=rng.normal(0.0, 1.0, (2, 5, c.embedding_size)), attention_mask=padded_mask([5, 3], 5),
                position_ids=np.array([[4, 3, 2, 1, 0]]))


HIDDEN = {"output_hidden_states": True}
BOTH = {"output_hidden_states": True, "output_attentions": True}

MODEL_CASES: list[ModelCase] = [
    ModelCase("base-gelu-groups", "base", dict(hidden_act="gelu", num_hidden_layers=4, num_hidden_groups=2,
                                               inner_group_num=2), _base_groups, flags=BOTH),
    ModelCase("pretraining-gelu_new-relative_key", "pretraining",
              dict(hidden_act="gelu_new", position_embedding_type="relative_key", num_hidden_layers=3),
              _pretraining, flags=HIDDEN),
    ModelCase("masked-lm-relu-relative_key_query-embedding-equals-hidden", "masked-lm",
              dict(hidden_act="relu", position_embedding_type="relative_key_query", embedding_size=16),
              _masked_lm, flags={"output_attentions": True}),
    ModelCase("sequence-classification-silu-single-label", "sequence-classification",
              dict(hidden_act="silu", num_labels=3), _seq_single, flags=BOTH),
    ModelCase("sequence-classification-tanh-regression", "sequence-classification",
              dict(hidden_act="tanh", num_labels=1), _seq_regression),
    ModelCase("sequence-classification-swish-multi-label", "sequence-classification",
              dict(hidden_act="swish", num_labels=3, num_hidden_groups=2), _seq_multilabel),
    ModelCase("token-classification-gelu_pytorch_tanh", "token-classification",
              dict(hidden_act="gelu_pytorch_tanh", num_labels=4, type_vocab_size=3), _token, flags=HIDDEN),
    ModelCase("question-answering-gelu-relative_key", "question-answering",
              dict(hidden_act="gelu", position_embedding_type="relative_key"), _qa),
    ModelCase("multiple-choice-gelu_new", "multiple-choice", dict(hidden_act="gelu_new"), _multiple_choice,
              flags=BOTH),
    ModelCase("base-inputs-embeds-position-ids", "base", dict(hidden_act="gelu_new"), _embeds, flags=HIDDEN),
]


def model_case(name: str) -> ModelCase:
    for case in MODEL_CASES:
        if case.name == name:
            return case
    raise KeyError(f"no model case {name!r}; known: {[c.name for c in MODEL_CASES]}")
