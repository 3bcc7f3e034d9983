"""`albert_core.convert`: HF folder in, HF folder out; task choice; all-or-nothing writes (NumPy only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import tiny_config, write_folder

import albert_core
from albert_core import CheckpointError
from albert_core.checkpoints import CheckpointFolder, convert, infer_task, save_safetensors
from albert_core.layout import init_params

IDS = np.array([[2, 5, 9, 11, 3, 0], [2, 7, 7, 3, 0, 0]])
MASK = (IDS != 0).astype(np.int64)


def _source(tmp_path, task="pretraining", name="src", **config_overrides):
    cfg = tiny_config(**config_overrides)
    tensors = init_params(cfg, task, seed=3)
    folder = write_folder(tmp_path / name, cfg, tensors)
    return folder, cfg, tensors


def _listing(folder):
    return sorted((p.relative_to(folder).as_posix(), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def test_hf_folder_round_trip(tmp_path):
    src, cfg, tensors = _source(tmp_path)
    (src / "spiece.model").write_bytes(b"sentencepiece bytes")
    report = convert(src, tmp_path / "out" / "dst")
    dst = tmp_path / "out" / "dst"
    assert sorted(p.name for p in dst.iterdir()) == ["config.json", "model.safetensors", "spiece.model"]
    assert (dst / "spiece.model").read_bytes() == b"sentencepiece bytes"
    assert report.task == "pretraining" and report.architecture == "AlbertForPreTraining"
    assert report.format == "hf-safetensors" and report.tensors == len(tensors) and report.dropped == []
    assert json.loads((dst / "config.json").read_text())["architectures"] == ["AlbertForPreTraining"]
    written = CheckpointFolder(dst)
    assert set(written) == set(tensors)
    for name, value in tensors.items():
        assert written[name].dtype == np.float32
        np.testing.assert_array_equal(written[name], value)
    a = albert_core.load(src, backend="numpy", task="pretraining")(IDS, attention_mask=MASK)
    b = albert_core.load(dst, backend="numpy", task="pretraining")(IDS, attention_mask=MASK)
    np.testing.assert_array_equal(a.prediction_logits, b.prediction_logits)
    np.testing.assert_array_equal(a.sop_logits, b.sop_logits)
    assert "AlbertForPreTraining" in report.summary()
    # No temporary folders are left beside the destination.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dst"]


def test_non_canonical_keys_are_canonicalised(tmp_path):
    cfg = tiny_config()
    tensors = init_params(cfg, "masked-lm", seed=1)
    renamed = {}
    for name, value in tensors.items():
        name = name.removeprefix("albert.")  # as a bare AlbertModel writes them
        if name.endswith("LayerNorm.weight"):
            name = name[: -len("weight")] + "gamma"
        renamed[name] = value
    renamed["predictions.decoder.weight"] = tensors["albert.embeddings.word_embeddings.weight"]
    renamed["albert.embeddings.position_ids"] = np.arange(cfg.max_position_embeddings, dtype=np.float32)
    write_folder(tmp_path / "src", cfg, renamed)
    report = convert(tmp_path / "src", tmp_path / "dst")
    assert report.task == "masked-lm"
    written = CheckpointFolder(tmp_path / "dst")
    assert set(written) == set(tensors)
    np.testing.assert_array_equal(written["albert.embeddings.LayerNorm.weight"],
                                  tensors["albert.embeddings.LayerNorm.weight"])


@pytest.mark.parametrize("task", ["base", "masked-lm", "sequence-classification", "question-answering"])
def test_task_is_inferred_from_heads(tmp_path, task):
    cfg = tiny_config().with_labels(3)
    write_folder(tmp_path / "src", cfg, init_params(cfg, task, seed=0))  # config.json without architectures
    assert convert(tmp_path / "src", tmp_path / "dst").task == task


def test_architectures_and_task_argument_choose_the_head(tmp_path):
    cfg = tiny_config().with_labels(3)
    folder = tmp_path / "src"
    write_folder(folder, cfg, init_params(cfg, "token-classification", seed=0))
    data = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**data, "architectures": ["AlbertForTokenClassification"]}))
    assert convert(folder, tmp_path / "a").task == "token-classification"
    # A pooled task asked of a checkpoint without a pooler names what is missing.
    with pytest.raises(CheckpointError, match=r"albert\.pooler\.weight"):
        convert(folder, tmp_path / "b", task="sequence-classification")
    assert not (tmp_path / "b").exists()
    write_folder(tmp_path / "pooled", cfg, init_params(cfg, "sequence-classification", seed=0))
    report = convert(tmp_path / "pooled", tmp_path / "c", task="token-classification")
    assert report.architecture == "AlbertForTokenClassification"
    assert report.dropped == ["albert.pooler.bias", "albert.pooler.weight"]


def test_weights_of_other_heads_are_dropped_and_reported(tmp_path):
    cfg = tiny_config()
    tensors = init_params(cfg, "pretraining", seed=0)
    del tensors["sop_classifier.classifier.weight"], tensors["sop_classifier.classifier.bias"]
    write_folder(tmp_path / "src", cfg, tensors)  # MLM head and pooler, no SOP head
    report = convert(tmp_path / "src", tmp_path / "dst")
    assert report.task == "masked-lm"
    assert report.dropped == ["albert.pooler.bias", "albert.pooler.weight"]
    assert "albert.pooler.weight" not in CheckpointFolder(tmp_path / "dst")


def test_infer_task_rules():
    assert infer_task({"albert.pooler.weight", "sop_classifier.classifier.weight", "predictions.bias"}) == \
        "pretraining"
    assert infer_task({"predictions.bias"}, ["AlbertForMultipleChoice"]) == "multiple-choice"
    assert infer_task({"classifier.weight"}, ["BertModel"]) == "sequence-classification"
    assert infer_task({"albert.pooler.weight"}) == "base"


def test_bad_checkpoint_lists_every_problem_and_writes_nothing(tmp_path):
    cfg = tiny_config()
    tensors = init_params(cfg, "pretraining", seed=0)
    del tensors["albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.bias"]
    tensors["albert.pooler.weight"] = np.zeros((3, 16), np.float32)
    tensors["bert.some.other.weight"] = np.zeros(2, np.float32)
    write_folder(tmp_path / "src", cfg, tensors)
    with pytest.raises(CheckpointError) as err:
        convert(tmp_path / "src", tmp_path / "dst")
    message = str(err.value)
    assert "bert.some.other.weight" in message
    assert "albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.bias" in message
    assert "albert.pooler.weight: checkpoint (3, 16), config expects (16, 16)" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_existing_destination_needs_overwrite(tmp_path):
    src, _, tensors = _source(tmp_path)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="already exists; pass overwrite=True"):
        convert(src, dst)
    assert _listing(dst) == [("keep.txt", b"mine")]
    convert(src, dst, overwrite=True)
    assert sorted(p.name for p in dst.iterdir()) == ["config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]
    with pytest.raises(CheckpointError, match="is the source folder"):
        convert(src, src, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        convert(src, tmp_path / "file", overwrite=True)


def test_failure_while_writing_leaves_destination_untouched(tmp_path):
    # A NaN is only found when the tensor is read, i.e. halfway through writing the new folder.
    cfg = tiny_config()
    tensors = init_params(cfg, "pretraining", seed=0)
    tensors["predictions.bias"][4] = np.nan
    write_folder(tmp_path / "src", cfg, tensors)
    dst = tmp_path / "dst"
    with pytest.raises(CheckpointError, match="NaN"):
        convert(tmp_path / "src", dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    dst.mkdir()
    (dst / "config.json").write_text("{}")
    before = _listing(dst)
    with pytest.raises(CheckpointError, match="NaN"):
        convert(tmp_path / "src", dst, overwrite=True)
    assert _listing(dst) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]


def test_explicit_format_and_missing_source(tmp_path):
    src, _, _ = _source(tmp_path)
    assert convert(src, tmp_path / "dst", format="hf-safetensors").format == "hf-safetensors"
    with pytest.raises(albert_core.errors.BackendError, match="unknown checkpoint format"):
        convert(src, tmp_path / "dst2", format="no-such-format")
    with pytest.raises(albert_core.FormatError, match="unknown checkpoint format") as raised:
        convert(src, tmp_path / "dst3", format="no-such-format")
    assert isinstance(raised.value, albert_core.CheckpointError)  # a checkpoint problem, not a backend's
    with pytest.raises(CheckpointError, match="does not exist"):
        convert(tmp_path / "nothing", tmp_path / "dst3")
    assert not (tmp_path / "dst2").exists() and not (tmp_path / "dst3").exists()


def test_sharded_source_is_written_as_one_file(tmp_path):
    cfg = tiny_config()
    tensors = init_params(cfg, "base", seed=0)
    folder = tmp_path / "src"
    folder.mkdir()
    cfg.to_json_file(folder / "config.json")
    names = sorted(tensors)
    shards = {"a.safetensors": names[: len(names) // 2], "b.safetensors": names[len(names) // 2:]}
    for shard, keys in shards.items():
        save_safetensors({k: tensors[k] for k in keys}, folder / shard)
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    convert(folder, tmp_path / "dst")
    assert set(CheckpointFolder(tmp_path / "dst")) == set(tensors)
