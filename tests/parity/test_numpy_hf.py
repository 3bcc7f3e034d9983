"""The NumPy reference backend against HF transformers' PyTorch ALBERT: every head, every variant."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TASKS, VARIANTS, assert_outputs_close, flatten, float_label_case, hf_forward, hf_inputs

import albert_core


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_numpy_matches_hf_torch(hf_folder, variant, task):
    folder, hf_model = hf_folder(variant, task)
    inputs = hf_inputs(task, hf_model.config, head_mask=variant == "groups")
    ref = hf_forward(hf_model, inputs)
    model = albert_core.load(folder, backend="numpy", task=task)
    ours = flatten(model(**inputs, output_hidden_states=True, output_attentions=True), np.asarray)
    assert_outputs_close(ours, ref)


@pytest.mark.parametrize("problem", ["regression", "multi_label_classification"])
def test_numpy_sequence_classification_losses(hf_folder, problem):
    folder, hf_model, inputs = float_label_case(hf_folder, problem)
    ref = hf_forward(hf_model, inputs)
    ours = flatten(albert_core.load(folder, backend="numpy", task="sequence-classification")(
        **inputs, output_hidden_states=True, output_attentions=True), np.asarray)
    assert_outputs_close(ours, ref)


def test_saved_folder_loads_in_hf_unchanged(tmp_path):
    model = albert_core.load("random:albert-base-v2", backend="numpy", task="pretraining")
    cfg = albert_core.AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=2,
                                   num_attention_heads=2, intermediate_size=20, max_position_embeddings=32)
    ckpt = albert_core.Checkpoint(cfg, albert_core.init_params(cfg, "pretraining", seed=3))
    model = albert_core.load(ckpt, backend="numpy", task="pretraining")
    albert_core.save(model, tmp_path / "out")
    import transformers

    hf, info = transformers.AlbertForPreTraining.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [], info
    ids = np.array([[2, 7, 9, 3]])
    import torch

    with torch.no_grad():
        ref = hf.eval()(torch.as_tensor(ids)).prediction_logits.numpy()
    np.testing.assert_allclose(model(ids).prediction_logits, ref, atol=1e-5)
