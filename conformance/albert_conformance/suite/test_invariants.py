"""Invariants: batching, padding, repeatability, every sequence length up to 512 (and 513 refused)."""

from __future__ import annotations

import numpy as np
import pytest

import albert_core
from albert_conformance.cases import ModelCase, case_weights, ids, make_config, padded_mask
from albert_conformance.compare import assert_close, assert_equal
from albert_conformance.golden import load_case_model, output_arrays
from albert_conformance.tolerances import tolerance
from albert_core import Checkpoint

POSITION_TYPES = ("absolute", "relative_key_query")
# All lengths of the first 16-token bucket, then both sides of every power of two up to the limit.
LENGTHS = [*range(1, 18), 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 384, 511, 512]


def _case(position: str) -> ModelCase:
    return ModelCase(f"invariants-{position}", "pretraining",
                     dict(position_embedding_type=position, hidden_act="gelu_new"), lambda r, c: {})


def _real_tokens(out: dict[str, np.ndarray], row: int, length: int) -> dict[str, np.ndarray]:
    """The outputs of one sequence that padding must not change (its real positions only)."""
    return {"prediction_logits": out["prediction_logits"][row, :length], "sop_logits": out["sop_logits"][row]}


@pytest.mark.parametrize("position", POSITION_TYPES)
def test_batched_equals_one_by_one(albert_backend, albert_backend_name, position):
    case = _case(position)
    model = load_case_model(case, albert_backend_name)
    config, rng = case.build_config(), np.random.default_rng(1)
    lengths = [7, 4, 1]
    batch = ids(rng, config, 3, 7)
    together = output_arrays(albert_backend.ops, model(input_ids=batch, attention_mask=padded_mask(lengths, 7)))
    tol = tolerance("float32", "invariant")
    for row, length in enumerate(lengths):
        alone = output_arrays(albert_backend.ops, model(input_ids=batch[row:row + 1, :length]))
        for key, value in _real_tokens(alone, 0, length).items():
            assert_close(_real_tokens(together, row, length)[key], value, tol,
                         f"{position}: row {row} (length {length}) of a padded batch vs alone: {key}")


@pytest.mark.parametrize("position", POSITION_TYPES)
def test_appended_padding_changes_nothing(albert_backend, albert_backend_name, position):
    case = _case(position)
    model = load_case_model(case, albert_backend_name)
    config, rng = case.build_config(), np.random.default_rng(2)
    real = ids(rng, config, 2, 6)
    plain = output_arrays(albert_backend.ops, model(input_ids=real, token_type_ids=np.ones_like(real)))
    padded_ids = np.concatenate([real, np.zeros((2, 5), np.int64)], axis=1)
    padded = output_arrays(albert_backend.ops, model(input_ids=padded_ids, attention_mask=padded_mask([6, 6], 11),
                                                     token_type_ids=np.ones_like(padded_ids)))
    tol = tolerance("float32", "invariant")
    for row in range(2):
        for key, value in _real_tokens(plain, row, 6).items():
            assert_close(_real_tokens(padded, row, 6)[key], value, tol,
                         f"{position}: 5 padding tokens appended to row {row}: {key}")


def test_two_calls_are_identical(albert_backend, albert_backend_name):
    case = _case("relative_key_query")
    model = load_case_model(case, albert_backend_name)
    batch = ids(np.random.default_rng(3), case.build_config(), 2, 9)
    kwargs = dict(attention_mask=padded_mask([9, 5], 9), output_hidden_states=True, output_attentions=True)
    first = output_arrays(albert_backend.ops, model(input_ids=batch, **kwargs))
    second = output_arrays(albert_backend.ops, model(input_ids=batch, **kwargs))
    assert first.keys() == second.keys()
    for key in first:
        assert_equal(second[key], first[key], f"second identical call: {key}")


@pytest.fixture(scope="module")
def long_models(albert_backend_name):
    """One-layer models with 512 positions on the backend and on the float64 reference, per position type."""
    models = {}
    for position in POSITION_TYPES:
        config = make_config(max_position_embeddings=512, position_embedding_type=position, num_hidden_layers=1)
        weights = case_weights(config, "base", 7)
        host32 = {k: v.astype(np.float32) for k, v in weights.items()}
        models[position] = (
            albert_core.load(Checkpoint(config, host32), backend=albert_backend_name, task="base"),
            albert_core.load(Checkpoint(config, weights), backend="numpy", task="base", dtype="float64"),
            config,
        )
    return models


@pytest.mark.parametrize("position", POSITION_TYPES)
@pytest.mark.parametrize("length", LENGTHS)
def test_sequence_length(albert_backend, long_models, position, length):
    model, reference, config = long_models[position]
    batch = ids(np.random.default_rng(length), config, 2, length)
    mask = padded_mask([length, max(1, length // 2)], length)
    got = output_arrays(albert_backend.ops, model(input_ids=batch, attention_mask=mask))
    expected = output_arrays(reference.ops, reference(input_ids=batch, attention_mask=mask))
    tol = tolerance("float32", "model")
    for key in expected:
        assert_close(got[key], expected[key], tol, f"{position}, sequence length {length}: {key}")


@pytest.mark.parametrize("position", POSITION_TYPES)
def test_length_513_is_the_cores_error(long_models, position):
    model, _, config = long_models[position]
    with pytest.raises(albert_core.InputError, match="exceeds max_position_embeddings=512"):
        model(input_ids=ids(np.random.default_rng(0), config, 1, 513))
