"""Sequence-length bucketing (`albert_core.bucketing`): `bucket_length` rounds up to the bucket, and padding the
inputs to it (`pad_inputs`), running the core forward and slicing back (`unpad_outputs`) gives the unpadded outputs,
even for a row the user masked entirely."""

from __future__ import annotations

import numpy as np
from helpers import tiny_model

from albert_core.bucketing import bucket_length, pad_inputs, unpad_outputs
from albert_core.model import forward
from albert_core.numpy_backend import NumpyOps

ops = NumpyOps()


def test_bucketing_round_trip_matches_unpadded():
    model = tiny_model("token-classification", num_labels=3)
    ids = np.array([[2, 5, 6, 7, 3]])
    arrays = {"input_ids": ids}
    target = bucket_length(5, 4, 32)
    assert target == 8 and bucket_length(31, 8, 32) == 32 and bucket_length(1, 8, 32) == 8
    padded = pad_inputs(arrays, target)
    assert padded["input_ids"].shape == (1, 8) and padded["attention_mask"][0].tolist() == [1] * 5 + [-1] * 3
    raw = forward(ops, model.config, model.task, model.params, output_hidden_states=True, **padded)
    out = unpad_outputs(raw, "token-classification", 5)
    ref = model(ids, output_hidden_states=True)
    np.testing.assert_allclose(out.logits, ref.logits, atol=1e-12)
    np.testing.assert_allclose(out.hidden_states[-1], ref.hidden_states[-1], atol=1e-12)


def test_bucket_padding_keeps_a_fully_masked_row_uniform_over_its_real_keys():
    model = tiny_model()
    ids, mask = np.array([[2, 5, 6, 3]]), np.zeros((1, 4), np.int64)
    ref = forward(ops, model.config, "base", model.params, input_ids=ids, attention_mask=mask)
    padded = pad_inputs({"input_ids": ids, "attention_mask": mask}, 8)
    out = unpad_outputs(forward(ops, model.config, "base", model.params, **padded), "base", 4)
    np.testing.assert_allclose(out.last_hidden_state, ref.last_hidden_state, atol=1e-12)
