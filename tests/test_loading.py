"""`albert_core.load` and `albert_core.save`: a folder, a `Checkpoint` or a preset name loads for a task; missing,
unknown and mis-shaped keys are errors, missing heads need `init_missing_heads`, other heads' weights are reported
in `LoadInfo`; a saved model loads back the same; loading copies the weights once."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from helpers import pretraining_tensors, tiny_config, write_folder

import albert_core
from albert_core import CheckpointError


def test_extra_heads_are_reported_not_loaded(tmp_path):
    cfg = tiny_config()
    model = albert_core.load(write_folder(tmp_path / "m", cfg, pretraining_tensors(cfg)), task="base")
    assert "sop_classifier.classifier.weight" in model.load_info.unused
    assert "sop_classifier.classifier.weight" not in model.params


def test_missing_unexpected_and_mismatched_keys(tmp_path):
    cfg = tiny_config()
    tensors = pretraining_tensors(cfg)
    del tensors["albert.encoder.albert_layer_groups.0.albert_layers.1.ffn.weight"]
    tensors["albert.encoder.mystery.weight"] = np.zeros(3, np.float32)
    tensors["albert.pooler.weight"] = np.zeros((16, 15), np.float32)
    with pytest.raises(CheckpointError) as err:
        albert_core.load(write_folder(tmp_path / "m", cfg, tensors), task="pretraining")
    msg = str(err.value)
    assert "albert_layers.1.ffn.weight" in msg and "mystery" in msg and "albert.pooler.weight" in msg
    assert "(16, 15)" in msg


def test_missing_head_needs_init_missing_heads(tmp_path):
    cfg = tiny_config()
    folder = write_folder(tmp_path / "m", cfg, albert_core.init_params(cfg, "base", 0))
    with pytest.raises(CheckpointError, match="init_missing_heads=True"):
        albert_core.load(folder, task="sequence-classification")
    model = albert_core.load(folder, task="sequence-classification", init_missing_heads=True, num_labels=5, seed=4)
    assert model.load_info.initialized == ["classifier.weight", "classifier.bias"]
    assert model.params["classifier.weight"].shape == (5, 16)
    assert 0.005 < model.params["classifier.weight"].std() < 0.05  # normal(0, initializer_range=0.02)
    again = albert_core.load(folder, task="sequence-classification", init_missing_heads=True, num_labels=5, seed=4)
    np.testing.assert_array_equal(model.params["classifier.weight"], again.params["classifier.weight"])


def test_save_round_trip(tmp_path):
    cfg = tiny_config(num_labels=3)
    model = albert_core.load(albert_core.Checkpoint(cfg, albert_core.init_params(cfg, "token-classification", 2)),
                             task="token-classification")
    albert_core.save(model, tmp_path / "out")
    assert json.loads((tmp_path / "out/config.json").read_text())["architectures"] == ["AlbertForTokenClassification"]
    again = albert_core.load(tmp_path / "out", task="token-classification")
    ids = np.array([[2, 6, 7, 3]])
    np.testing.assert_array_equal(again(ids).logits, model(ids).logits)


def test_missing_source(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        albert_core.load(tmp_path / "nope")


def test_preset_names_resolve_through_huggingface_hub(tmp_path, monkeypatch):
    """A preset name goes to huggingface_hub.snapshot_download (faked here: offline, a local folder)."""
    import sys
    import types

    cfg = tiny_config()
    folder = write_folder(tmp_path / "snapshot", cfg, albert_core.init_params(cfg, "base"))
    calls = []

    def snapshot_download(repo_id, allow_patterns):
        calls.append((repo_id, tuple(allow_patterns)))
        return str(folder)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    model = albert_core.load("albert-base-v2")
    assert calls == [("albert/albert-base-v2", ("config.json", "model.safetensors*", "spiece.model"))]
    assert model.config.hidden_size == 16
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(CheckpointError, match="install huggingface_hub"):
        albert_core.load("albert-base-v2")


def test_loading_copies_weights_once(tmp_path):
    """Peak traced memory while loading stays near one copy of the weights (no second full copy)."""
    cfg = tiny_config(vocab_size=30000, embedding_size=128, hidden_size=256, num_attention_heads=4,
                      intermediate_size=1024)
    folder = write_folder(tmp_path / "m", cfg, albert_core.init_params(cfg, "base"))
    size = (folder / "model.safetensors").stat().st_size
    tracemalloc.start()
    model = albert_core.load(folder)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert model.params
    assert peak < 1.2 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB checkpoint"
