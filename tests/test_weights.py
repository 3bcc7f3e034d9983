"""Weight layout, checkpoint key resolution and the safetensors reader's checks."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from helpers import tiny_config, write_folder, write_raw_safetensors

import albert_core
from albert_core import CheckpointError
from albert_core.checkpoints import HOST_ALIGNMENT, CheckpointFolder, SafetensorsFile, host_array
from albert_core.layout import param_table


def test_param_table_names_and_sharing():
    cfg = tiny_config(position_embedding_type="relative_key")
    table = {s.name: s for s in param_table(cfg, "pretraining")}
    assert table["albert.embeddings.word_embeddings.weight"].shape == (40, 8)
    assert table["albert.encoder.embedding_hidden_mapping_in.weight"].shape == (16, 8)
    layer = "albert.encoder.albert_layer_groups.1.albert_layers.1"
    assert table[f"{layer}.attention.query.weight"].group == 1
    assert table[f"{layer}.ffn.weight"].shape == (24, 16) and table[f"{layer}.ffn_output.weight"].shape == (16, 24)
    assert table[f"{layer}.attention.distance_embedding.weight"].shape == (63, 8)
    assert {"predictions.dense.weight", "predictions.LayerNorm.weight", "predictions.bias",
            "sop_classifier.classifier.weight", "albert.pooler.weight"} <= set(table)
    assert "albert.pooler.weight" not in {s.name for s in param_table(cfg, "masked-lm")}
    assert {s.name for s in param_table(cfg, "question-answering")} >= {"qa_outputs.weight", "qa_outputs.bias"}
    assert dict((s.name, s.shape) for s in param_table(cfg, "multiple-choice"))["classifier.weight"] == (1, 16)


def _pretraining_tensors(cfg, seed=0):
    return albert_core.init_params(cfg, "pretraining", seed)


def test_checkpoint_variants_resolve(tmp_path):
    """Bare AlbertModel keys, gamma/beta names, the position_ids buffer and tied decoder copies all load."""
    cfg = tiny_config()
    tensors = _pretraining_tensors(cfg)
    variant = {}
    for name, value in tensors.items():
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        variant[name.removeprefix("albert.") if name.startswith("albert.encoder") else name] = value
    variant["albert.embeddings.position_ids"] = np.arange(32, dtype=np.float32)[None]
    variant["predictions.decoder.weight"] = tensors["albert.embeddings.word_embeddings.weight"]
    variant["predictions.decoder.bias"] = tensors["predictions.bias"]
    folder = write_folder(tmp_path / "m", cfg, variant)
    ids = np.array([[2, 5, 9, 3]])
    ref = albert_core.load(albert_core.Checkpoint(cfg, tensors), task="pretraining")(ids)
    got = albert_core.load(folder, task="pretraining")
    np.testing.assert_array_equal(got(ids).prediction_logits, ref.prediction_logits)
    assert got.load_info.initialized == []


def test_decoder_bias_alone_is_used(tmp_path):
    cfg = tiny_config()
    tensors = albert_core.init_params(cfg, "masked-lm", 1)
    tensors["predictions.decoder.bias"] = tensors.pop("predictions.bias")
    model = albert_core.load(write_folder(tmp_path / "m", cfg, tensors), task="masked-lm")
    np.testing.assert_array_equal(model.params["predictions.bias"], tensors["predictions.decoder.bias"])


def test_extra_heads_are_reported_not_loaded(tmp_path):
    cfg = tiny_config()
    model = albert_core.load(write_folder(tmp_path / "m", cfg, _pretraining_tensors(cfg)), task="base")
    assert "sop_classifier.classifier.weight" in model.load_info.unused
    assert "sop_classifier.classifier.weight" not in model.params


def test_missing_unexpected_and_mismatched_keys(tmp_path):
    cfg = tiny_config()
    tensors = _pretraining_tensors(cfg)
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


def test_never_loads_pickle_or_h5(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    tiny_config().to_json_file(folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04 not a real pickle")
    (folder / "tf_model.h5").write_bytes(b"HDF")
    with pytest.raises(CheckpointError, match="never loads"):
        albert_core.load(folder)


def test_missing_source(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        albert_core.load(tmp_path / "nope")


# ------------------------------------------------------------------------------------ safetensors checks
def test_truncated_file(tmp_path):
    cfg = tiny_config()
    folder = write_folder(tmp_path / "m", cfg, albert_core.init_params(cfg, "base"))
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        albert_core.load(folder)
    (folder / "model.safetensors").write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="truncated"):
        albert_core.load(folder)


@pytest.mark.parametrize("header, data, match", [
    ("{not json", b"", "corrupt safetensors header"),
    ('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
     '"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', b"\0" * 8, "duplicate tensor name 'a'"),
    ({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "has dtype I64"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 8, "do not fit"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlap"),
    ({"w": {"dtype": "F32"}}, b"", "malformed header entry"),
])
def test_corrupt_headers(tmp_path, header, data, match):
    path = write_raw_safetensors(tmp_path / "x.safetensors", header, data)
    with pytest.raises(CheckpointError, match=match):
        SafetensorsFile(path)


def test_nan_and_bf16(tmp_path):
    nan = np.array([1.0, np.nan], np.float32).tobytes()
    path = write_raw_safetensors(tmp_path / "n.safetensors", {"w": {"dtype": "F32", "shape": [2],
                                                                     "data_offsets": [0, 8]}}, nan)
    with pytest.raises(CheckpointError, match="'w' contains 1 NaN/Inf"):
        SafetensorsFile(path)["w"]
    bf16 = (np.array([1.5, -2.25], np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    path = write_raw_safetensors(tmp_path / "b.safetensors", {"w": {"dtype": "BF16", "shape": [2],
                                                                     "data_offsets": [0, 4]}}, bf16)
    np.testing.assert_array_equal(SafetensorsFile(path)["w"], [1.5, -2.25])


def test_sharded_folder(tmp_path):
    cfg = tiny_config()
    tensors = albert_core.init_params(cfg, "base")
    names = sorted(tensors)
    folder = tmp_path / "m"
    folder.mkdir()
    cfg.to_json_file(folder / "config.json")
    half = len(names) // 2
    for shard, part in (("a.safetensors", names[:half]), ("b.safetensors", names[half:])):
        albert_core.checkpoints.save_safetensors({n: tensors[n] for n in part}, folder / shard)
    index = {"weight_map": {n: ("a.safetensors" if i < half else "b.safetensors") for i, n in enumerate(names)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    model = albert_core.load(folder)
    np.testing.assert_array_equal(model.params["albert.pooler.weight"], tensors["albert.pooler.weight"])
    index["weight_map"][names[0]] = "../outside.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="plain file name inside the model folder"):
        CheckpointFolder(folder)


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


def test_read_into_fills_a_caller_buffer_with_the_same_checks(tmp_path):
    cfg = tiny_config()
    tensors = albert_core.init_params(cfg, "base")
    folder = CheckpointFolder(write_folder(tmp_path / "m", cfg, tensors))
    name = "albert.pooler.weight"
    out = np.empty((16, 16), np.float32)
    assert folder.read_into(name, out)
    np.testing.assert_array_equal(out, tensors[name])
    assert not folder.read_into(name, np.empty((16, 16), np.float64))  # other dtype: caller falls back
    nan = np.array([1.0, np.nan], np.float32).tobytes()
    path = write_raw_safetensors(tmp_path / "n.safetensors", {"w": {"dtype": "F32", "shape": [2],
                                                                     "data_offsets": [0, 8]}}, nan)
    with pytest.raises(CheckpointError, match="'w' contains 1 NaN/Inf"):
        SafetensorsFile(path).read_into("w", np.empty(2, np.float32))


def test_read_into_streams_rows_and_host_array_transposes_without_a_full_temporary(tmp_path, monkeypatch):
    from albert_core.checkpoints import host as host_module

    cfg = tiny_config()
    tensors = albert_core.init_params(cfg, "base")
    folder = CheckpointFolder(write_folder(tmp_path / "m", cfg, tensors))
    name = "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"  # [intermediate, hidden]
    rows = np.empty((5, tensors[name].shape[1]), np.float32)
    assert folder.read_into(name, rows, start_row=5)
    np.testing.assert_array_equal(rows, tensors[name][5:10])
    assert not folder.read_into(name, rows, start_row=len(tensors[name]) - 2)  # past the end: nothing read
    monkeypatch.setattr(host_module, "_STREAM_BYTES", rows.nbytes)  # 5 rows per chunk: 24 = 4 x 5 + 4
    kernel = host_array(folder, name, transpose=True)
    np.testing.assert_array_equal(kernel, tensors[name].T)
    assert kernel.flags.c_contiguous and kernel.ctypes.data % HOST_ALIGNMENT == 0
    plain = host_array(dict(tensors), "albert.pooler.bias")  # a mapping without read_into
    np.testing.assert_array_equal(plain, tensors["albert.pooler.bias"])
    np.testing.assert_array_equal(host_array(dict(tensors), name, transpose=True), tensors[name].T)
