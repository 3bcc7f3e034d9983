"""The safetensors reader and writer (`albert_core.checkpoints`): every defect of a file, a header or a sharded
folder is a `CheckpointError` naming it, pickle/HDF5 is never opened, bf16 widens to float32, and `read_into` /
`host_array` fill caller and aligned buffers (row ranges, transposed, streamed) with the same checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import tiny_config, write_folder, write_raw_safetensors

import albert_core
from albert_core import CheckpointError
from albert_core.checkpoints import HOST_ALIGNMENT, CheckpointFolder, SafetensorsFile, host_array


def test_never_loads_pickle_or_h5(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    tiny_config().to_json_file(folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04 not a real pickle")
    (folder / "tf_model.h5").write_bytes(b"HDF")
    with pytest.raises(CheckpointError, match="never loads"):
        albert_core.load(folder)


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
