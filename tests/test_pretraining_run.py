"""The pretraining run on the core's side (the `fake-train` backend; the real backends run it in the conformance and
parity sessions): batches streamed from shards, the model from a config, the output folder, resume, and every
check made before the first step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fake_training_backend as fake
import numpy as np
import pytest
from training_helpers import fake_backend  # noqa: F401  (a fixture)

import albert_core
from albert_core import AlbertConfig, ConfigError, DataError
from albert_core.cli import main
from albert_core.ops import IGNORE_INDEX
from albert_core.pretraining.batches import PretrainingBatches
from albert_core.pretraining.builder import DataOptions, build_pretraining_data
from albert_core.pretraining.sample_corpus import write_sample_corpus
from albert_core.pretraining.shards import iter_shards, read_manifest
from albert_core.pretraining.trainer import pretrain
from albert_core.pretraining.vocab import train_vocab

SPIECE = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pretraining")
    corpus = write_sample_corpus(root / "corpus.txt", max_documents=80)
    out = root / "data"
    build_pretraining_data(corpus, tokenizer=SPIECE, output_dir=out, workers=1,
                           options=DataOptions(max_seq_length=64, dupe_factor=1, shard_size=40))
    return out


def _run(data: Path, out: Path, **changes):
    options = dict(train=str(data), model="tiny", output_dir=str(out), backend=fake.NAME, max_steps=4,
                   per_device_train_batch_size=4, logging_steps=1, save_steps=2, seed=5, progress=False, plot=False)
    return pretrain(**{**options, **changes})


# ---------------------------------------------------------------------------------------------------- batches
def test_batches_cover_every_instance_once_an_epoch_in_a_seeded_order(data):
    batches = PretrainingBatches(data, batch_size=8, accumulation=1, seed=1)
    manifest = read_manifest(data)
    assert len(manifest["shards"]) > 2 and batches.instances == manifest["instances"]
    originals = {}
    for shard in iter_shards(data, manifest):
        for i in range(len(shard["segment_b"])):
            ids = shard["input_ids"][shard["offsets"][i]:shard["offsets"][i + 1]]
            originals[tuple(ids)] = shard["masked_ids"][shard["masked_offsets"][i]:shard["masked_offsets"][i + 1]]
    seen = []
    for k in range(batches.steps_per_epoch):
        (batch,), weights = batches.step(k)
        assert weights == [1.0] and batch["input_ids"].shape[1] in (32, 64)
        for r in range(len(batch["input_ids"])):
            n = int(batch["attention_mask"][r].sum())
            ids = tuple(batch["input_ids"][r, :n])
            labelled = batch["labels"][r] != IGNORE_INDEX
            assert np.array_equal(batch["labels"][r][labelled], originals[ids])  # the masked positions' originals
            assert not labelled[n:].any() and batch["token_type_ids"][r, n:].sum() == 0
            b = int(np.argmax(batch["token_type_ids"][r]))
            assert batch["input_ids"][r, b - 1] == 3 and batch["token_type_ids"][r, b:n].all()  # [SEP] then B
            seen.append(ids)
    assert sorted(seen) == sorted(originals)  # each instance exactly once
    again = PretrainingBatches(data, batch_size=8, accumulation=1, seed=1)
    for k in (0, 3, batches.steps_per_epoch + 2):  # a pure function of the step, across epochs too
        assert fake.digest(batches.step(k)[0]) == fake.digest(again.step(k)[0])
    assert fake.digest(batches.step(0)[0]) != fake.digest(batches.step(batches.steps_per_epoch)[0])
    two = PretrainingBatches(data, batch_size=4, accumulation=2, seed=1)
    micro, weights = two.step(0)
    assert weights == [0.5, 0.5] and len(micro) == 2


# -------------------------------------------------------------------------------------------------------- runs
def test_pretrain_writes_a_pretraining_checkpoint_and_resumes_exactly(fake_backend, data, tmp_path):  # noqa: F811
    result = _run(data, tmp_path / "run")
    out = result.output_dir
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["AlbertForPreTraining"] and config["vocab_size"] == 30000
    assert (out / "spiece.model").read_bytes() == SPIECE.read_bytes()
    assert json.loads((out / "tokenizer_config.json").read_text())["do_lower_case"] is True
    model = albert_core.load(out, task="pretraining")
    assert model.load_info.initialized == []
    log = [r for r in result.log if "loss" in r]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    state = json.loads((out / "checkpoint-2/trainer_state.json").read_text())
    assert state["task"] == "pretraining" and state["optimizer"] == "lamb" and state["learning_rate"] == 0.00176
    uninterrupted = [c["digest"] for c in fake.CALLS["step"]]
    fake.reset()
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    _run(data, copy, resume=str(copy / "checkpoint-2"))
    assert [c["digest"] for c in fake.CALLS["step"]] == uninterrupted[2:]  # the same batches from step 2 on


def test_the_cli_runs_pretraining(fake_backend, data, tmp_path, capsys):  # noqa: F811
    argv = ["pretrain", "--data", str(data), "--config", "tiny", "--output", str(tmp_path / "cli"), "--backend",
            fake.NAME, "--max-steps", "2", "--no-plot", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["global_step"] == 2
    (options,) = fake.CALLS["train_step"]  # the backend got the paper's recipe
    assert (options.optimizer, options.schedule.peak, options.weight_decay, options.adam_epsilon) == \
        ("lamb", 0.00176, 0.01, 1e-6)


# ------------------------------------------------------------------------------------------------- bad input
def test_mismatches_are_refused_before_any_step(fake_backend, data, tmp_path):  # noqa: F811
    with pytest.raises(DataError, match="holds sequences of up to 64 tokens, not --max-seq-length 128"):
        _run(data, tmp_path / "a", max_seq_length=128)
    small = write_sample_corpus(tmp_path / "small.txt", max_documents=30)
    other = train_vocab(small, vocab_size=400, output_dir=tmp_path / "vocab")
    with pytest.raises(DataError, match="was written with another tokenizer"):
        _run(data, tmp_path / "b", tokenizer=str(other.parent))
    config = tmp_path / "config.json"
    AlbertConfig(vocab_size=1000, embedding_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=16).to_json_file(config)
    with pytest.raises(ConfigError, match="vocab_size is 1000 but the data's tokenizer has 30000 pieces"):
        _run(data, tmp_path / "c", model=str(config))
    AlbertConfig(vocab_size=30000, embedding_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=16, max_position_embeddings=32).to_json_file(config)
    with pytest.raises(ConfigError, match="up to 64 tokens but the model's max_position_embeddings is 32"):
        _run(data, tmp_path / "d", model=str(config))
    with pytest.raises(ConfigError, match="--eval is not supported for pretraining"):
        _run(data, tmp_path / "e", eval="x.jsonl")
    with pytest.raises(DataError, match="has no data.json"):
        _run(tmp_path, tmp_path / "f")
    with pytest.raises(ConfigError, match="finetune\\(\\) does not pretrain"):
        albert_core.finetune(task="pretraining", model="tiny", train=str(data), output_dir=str(tmp_path / "g"))
    assert fake.CALLS["step"] == []  # nothing ran
    assert not any((tmp_path / name).exists() for name in "abcdefg")
