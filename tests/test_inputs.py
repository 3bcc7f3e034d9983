"""Host-side input validation: every bad input is a clear error naming the argument, value and range."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import tiny_config

import albert_core
from albert_core import InputError, InputTypeError


@pytest.fixture(scope="module")
def models():
    cfg = tiny_config(num_labels=3)
    out = {}
    for task in albert_core.TASKS:
        c = cfg.with_labels(2) if task in ("pretraining", "question-answering") else cfg
        out[task] = albert_core.load(albert_core.Checkpoint(c, albert_core.init_params(c, task)), task=task)
    return out


IDS = np.array([[2, 5, 6, 3], [2, 7, 3, 0]])
MASK = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(input_ids=[[2, 40, 3]]), InputError, r"input_ids has value 40 at position \(0, 1\).*\[0, 40\)"),
    (dict(input_ids=[[2, -1, 3]]), InputError, r"value -1 at position \(0, 1\)"),
    (dict(input_ids=np.array([[2.0, 5.0]])), InputTypeError, "input_ids must hold integers, got dtype float64"),
    (dict(input_ids=np.zeros((1, 33), np.int64)), InputError, "sequence length 33 exceeds max_position_embeddings=32"),
    (dict(input_ids=np.zeros((1, 0), np.int64)), InputError, "the input is empty"),
    (dict(input_ids=[[2, 3], [2]]), InputTypeError, "rectangular"),
    (dict(input_ids="hello"), InputTypeError, "tokenize text"),
    (dict(), InputError, "exactly one of input_ids and inputs_embeds .got neither"),
    (dict(input_ids=IDS, inputs_embeds=np.zeros((2, 4, 8))), InputError, "got both"),
    (dict(input_ids=IDS, attention_mask=MASK[:, :3]), InputError, r"attention_mask has shape \(2, 3\)"),
    (dict(input_ids=IDS, attention_mask=MASK * 2), InputError, r"attention_mask has value 2 at position \(0, 0\)"),
    (dict(input_ids=IDS, token_type_ids=np.full_like(IDS, 2)), InputError, r"token_type_ids has value 2.*\[0, 2\)"),
    (dict(input_ids=IDS, position_ids=np.arange(4) + 30), InputError, r"position_ids has value 32"),
    (dict(input_ids=IDS, head_mask=np.ones(3)), InputError, r"head_mask has shape \(3,\)"),
    (dict(inputs_embeds=np.zeros((2, 4, 5))), InputError, "embedding_size=8"),
    (dict(inputs_embeds=np.full((1, 2, 8), np.nan)), InputError, "NaN"),
    (dict(input_ids=np.zeros((2, 2, 4), np.int64)), InputError, "must have 2 dimensions"),
])
def test_bad_model_inputs(models, kwargs, error, match):
    with pytest.raises(error, match=match):
        models["base"](**kwargs)


@pytest.mark.parametrize("task, kwargs, match", [
    ("masked-lm", dict(labels=np.full((2, 4), 40)), r"labels has value 40.*\[0, 40\) or \[-100\]"),
    ("masked-lm", dict(labels=np.zeros((2, 3), np.int64)), "labels has shape"),
    ("token-classification", dict(labels=np.full((2, 4), 3)), r"labels has value 3.*\[0, 3\)"),
    ("sequence-classification", dict(labels=np.array([0, 5])), r"labels has value 5"),
    ("multiple-choice", dict(labels=np.array([2])), r"labels has value 2.*\[0, 2\)"),
    ("pretraining", dict(labels=np.zeros((2, 4), np.int64)), "needs sentence_order_label"),
    ("pretraining", dict(labels=np.zeros((2, 4), np.int64), sentence_order_label=[0, 2]), "sentence_order_label"),
    ("question-answering", dict(start_positions=[1, 2]), "both start_positions and end_positions"),
    ("question-answering", dict(labels=[1, 2]), "use start_positions"),
    ("base", dict(start_positions=[1, 2], end_positions=[1, 2]), "only apply to task 'question-answering'"),
])
def test_bad_labels(models, task, kwargs, match):
    ids = IDS[:1, None].repeat(2, 1) if task == "multiple-choice" else IDS
    with pytest.raises(InputError, match=match):
        models[task](ids, **kwargs)


def test_valid_variants_accepted(models):
    base = models["base"]
    one = base([2, 5, 3])  # an unbatched sequence gets a batch axis
    assert one.last_hidden_state.shape == (1, 3, 16)
    out = base(IDS, attention_mask=MASK.astype(bool), position_ids=np.arange(4), head_mask=np.ones(2))
    assert out.pooler_output.shape == (2, 16)
    assert base(np.zeros((1, 32), np.int64)).last_hidden_state.shape == (1, 32, 16)
