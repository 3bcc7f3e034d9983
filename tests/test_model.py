"""The model definition and the op contract's reference numerics, on the NumPy backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import tiny_model

import albert_core
from albert_core.numpy_backend import NumpyOps
from albert_core.ops import MASK_FILL, Ops, contract, missing_primitives

ops = NumpyOps()


def test_numpy_backend_implements_the_whole_contract():
    assert missing_primitives(ops) == []
    kinds = {kind for kind, _ in contract().values()}
    assert kinds == {"primitive", "composite"}
    primitives = [n for n, (k, _) in contract().items() if k == "primitive"]
    assert missing_primitives(type("Empty", (Ops,), {})()) == primitives


def test_gelu_variants_match_their_definitions():
    x = np.linspace(-6, 6, 101)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(ops.gelu(x), exact, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ops.gelu_new(x), tanh, rtol=1e-12, atol=1e-12)
    assert np.abs(ops.gelu(x) - ops.gelu_new(x)).max() > 1e-4  # they are different functions
    np.testing.assert_allclose(ops.silu(x), x / (1 + np.exp(-x)), rtol=1e-12)


def test_softmax_and_layer_norm_are_stable_in_float32_and_half():
    x = np.array([[6e4, 6e4 - 32.0, -6e4]], np.float16)  # exp would overflow float16
    y = ops.softmax(x)
    assert y.dtype == np.float16 and np.isfinite(y).all()
    np.testing.assert_allclose(y.astype(np.float64), [[1.0, 0.0, 0.0]], atol=1e-3)
    big = np.array([[3e4, 3e4 + 8, 3e4 - 8]], np.float16)
    ln = ops.layer_norm(big, np.ones(3, np.float16), np.zeros(3, np.float16), 1e-12)
    assert np.isfinite(ln).all() and abs(float(ln[0, 1]) - 1.2247) < 1e-2


def test_fully_masked_row_gives_uniform_attention_not_nan():
    q = np.random.default_rng(0).normal(size=(1, 1, 3, 4)).astype(np.float16)
    bias = np.full((1, 1, 1, 3), MASK_FILL, np.float32)
    ctx, probs = ops.attention(q, q, q, bias, need_weights=True)
    assert np.isfinite(ctx).all()
    np.testing.assert_allclose(probs.astype(np.float64), 1 / 3, atol=1e-3)


def test_cross_entropy_ignore_index_and_all_ignored_is_nan():
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    loss = ops.cross_entropy(logits, np.array([0, -100, 1]))
    expected = np.mean([-np.log(np.exp(2) / (np.exp(2) + 1)), -np.log(0.5)])
    np.testing.assert_allclose(loss, expected)
    with np.errstate(invalid="ignore"):
        assert np.isnan(ops.cross_entropy(logits, np.array([-100, -100, -100])))


def test_padding_does_not_change_real_tokens_and_rows_are_independent():
    model = tiny_model(position_embedding_type="relative_key_query")
    ids = np.array([[2, 9, 11, 3]])
    alone = model(ids).last_hidden_state
    padded = model(np.array([[2, 9, 11, 3, 0, 0], [2, 5, 3, 0, 0, 0]]),
                   attention_mask=np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]])).last_hidden_state
    np.testing.assert_allclose(padded[:1, :4], alone, atol=1e-12)


def test_hidden_states_and_attentions_counts():
    model = tiny_model(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    out = model(np.array([[2, 5, 3]]), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 5 and len(out.attentions) == 8
    assert out.attentions[0].shape == (1, 2, 3, 3)
    np.testing.assert_allclose(out.attentions[0].sum(-1), 1.0)


def test_head_mask_zeroes_a_head():
    model = tiny_model()
    hm = np.ones((4, 2))
    hm[0, 1] = 0
    out = model(np.array([[2, 5, 6, 3]]), head_mask=hm, output_attentions=True)
    assert np.all(out.attentions[0][:, 1] == 0) and np.any(out.attentions[0][:, 0] != 0)


def test_inputs_embeds_equals_ids():
    model = tiny_model()
    ids = np.array([[2, 5, 6, 3]])
    emb = model.params["albert.embeddings.word_embeddings.weight"][ids]
    np.testing.assert_allclose(model(inputs_embeds=emb).last_hidden_state, model(ids).last_hidden_state)


def test_dropout_only_in_training():
    model = tiny_model(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    ids = np.array([[2, 5, 6, 3]])
    np.testing.assert_array_equal(model(ids).last_hidden_state, model(ids).last_hidden_state)
    a = model(ids, training=True, rng=1).last_hidden_state
    b = model(ids, training=True, rng=2).last_hidden_state
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, model(ids, training=True, rng=1).last_hidden_state)


@pytest.mark.parametrize("task", albert_core.TASKS)
def test_every_head_runs_with_loss(task):
    num_labels = 2 if task in ("pretraining", "question-answering") else 3
    model = tiny_model(task, num_labels=num_labels)
    ids = np.array([[2, 5, 6, 3], [2, 8, 3, 0]])
    kwargs = {}
    if task in ("pretraining", "masked-lm", "token-classification"):
        kwargs["labels"] = np.array([[-100, 1, 2, -100], [0, -100, 1, -100]])
        if task == "pretraining":
            kwargs["sentence_order_label"] = np.array([0, 1])
    elif task == "sequence-classification":
        kwargs["labels"] = np.array([0, 2])
    elif task == "multiple-choice":
        ids = np.stack([ids, ids[::-1]], axis=1)
        kwargs["labels"] = np.array([1, 0])
    elif task == "question-answering":
        kwargs.update(start_positions=np.array([1, 9]), end_positions=np.array([2, 2]))
    out = model(ids, **kwargs)
    if task != "base":
        assert np.isfinite(out.loss) and out.loss > 0
    else:
        assert out.loss is None and out.pooler_output.shape == (2, 16)
    if task == "multiple-choice":
        assert out.logits.shape == (2, 2)


def test_float32_matches_float64_reference():
    m64, m32 = tiny_model(dtype="float64"), tiny_model(dtype="float32")
    ids = np.array([[2, 5, 6, 3]])
    assert m32(ids).last_hidden_state.dtype == np.float32
    np.testing.assert_allclose(m32(ids).last_hidden_state, m64(ids).last_hidden_state, atol=1e-5)
