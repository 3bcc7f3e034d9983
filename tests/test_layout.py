"""The weight layout (`albert_core.layout`): the parameter table's names, shapes and layer groups per task, and
the checkpoint names that map onto it (bare `AlbertModel` keys, gamma/beta, the ignored `position_ids` buffer, the
tied decoder weight and bias)."""

from __future__ import annotations

import numpy as np
from helpers import pretraining_tensors, tiny_config, write_folder

import albert_core
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


def test_checkpoint_variants_resolve(tmp_path):
    """Bare AlbertModel keys, gamma/beta names, the position_ids buffer and tied decoder copies all load."""
    cfg = tiny_config()
    tensors = pretraining_tensors(cfg)
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


def test_absurd_sizes_are_refused_before_allocating(tmp_path):
    """hidden_size 10**9 (a typo, or a hostile config.json) is a ConfigError naming the sizes, raised before any
    array exists: random weights (`random:` models, pretraining from a config) all come from `init_params`."""
    import tracemalloc

    import pytest

    huge = albert_core.AlbertConfig(hidden_size=10**9, num_attention_heads=1, intermediate_size=8)
    huge.to_json_file(tmp_path / "config.json")
    tracemalloc.start()
    try:
        with pytest.raises(albert_core.ConfigError, match=r"hidden_size=1000000000.*more than the 4,294,967,296"):
            albert_core.init_params(huge, "base")
        with pytest.raises(albert_core.ConfigError, match="check those sizes in config.json"):
            albert_core.random_checkpoint(albert_core.AlbertConfig.from_json_file(tmp_path / "config.json"))
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()
    small = tiny_config()
    assert sum(v.size for v in albert_core.init_params(small, "base").values()) < 2**32
