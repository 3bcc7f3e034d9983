"""AlbertConfig: HF field names and defaults, config.json round trips, presets, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import albert_core
from albert_core import PRESETS, AlbertConfig, ConfigError

HF_DEFAULTS = dict(
    vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12, num_hidden_groups=1,
    num_attention_heads=64, intermediate_size=16384, inner_group_num=1, hidden_act="gelu_new",
    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=512, type_vocab_size=2,
    initializer_range=0.02, layer_norm_eps=1e-12, classifier_dropout_prob=0.1, position_embedding_type="absolute",
    pad_token_id=0, bos_token_id=2, eos_token_id=3, problem_type=None,
)


def test_defaults_are_hf_defaults():
    cfg = AlbertConfig()
    for name, value in HF_DEFAULTS.items():
        assert getattr(cfg, name) == value, name
    assert cfg.num_labels == 2 and cfg.id2label == {0: "LABEL_0", 1: "LABEL_1"}


def test_json_round_trip_and_legacy_keys(tmp_path):
    data = dict(HF_DEFAULTS, hidden_size=768, num_attention_heads=12, architectures=["AlbertForMaskedLM"],
                model_type="albert", down_scale_factor=1, gap_size=0, net_structure_type=0, num_memory_blocks=0,
                layers_to_keep=[], id2label={"0": "neg", "1": "pos", "2": "mid"}, custom_field=7)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    cfg = AlbertConfig.from_json_file(path)
    assert cfg.hidden_size == 768 and cfg.num_labels == 3 and cfg.label2id == {"neg": 0, "pos": 1, "mid": 2}
    cfg.to_json_file(tmp_path / "out.json", architectures=["AlbertModel"])
    again = json.loads((tmp_path / "out.json").read_text())
    assert again["model_type"] == "albert" and again["architectures"] == ["AlbertModel"]
    assert again["custom_field"] == 7 and "down_scale_factor" not in again
    assert AlbertConfig.from_json_file(tmp_path / "out.json") == cfg


def test_num_labels_key_builds_label_names():
    cfg = AlbertConfig.from_dict({"num_labels": 4, "hidden_size": 64, "num_attention_heads": 4})
    assert cfg.num_labels == 4 and cfg.id2label[3] == "LABEL_3"


def test_remote_code_keys_are_inert():
    cfg = AlbertConfig.from_dict({"auto_map": {"AutoModel": "evil.Model"}, "trust_remote_code": True,
                                  "hidden_size": 64, "num_attention_heads": 4})
    assert "auto_map" not in cfg.to_dict() and "trust_remote_code" not in cfg.to_dict()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets(name):
    cfg = AlbertConfig.from_preset(name)
    assert cfg.hidden_act == ("gelu" if name.endswith("v1") else "gelu_new")
    assert cfg.embedding_size == 128 and cfg.vocab_size == 30000
    assert len(PRESETS) == 8


def test_preset_shapes():
    base = AlbertConfig.from_preset("albert-base-v2")
    xxl = AlbertConfig.from_preset("albert-xxlarge-v2")
    assert (base.hidden_size, base.num_hidden_layers, base.num_attention_heads, base.intermediate_size) == \
        (768, 12, 12, 3072)
    assert (xxl.hidden_size, xxl.num_attention_heads, xxl.intermediate_size) == (4096, 64, 16384)
    with pytest.raises(ConfigError, match="albert-base-v2"):
        AlbertConfig.from_preset("albert-bse-v2")


@pytest.mark.parametrize("kwargs, match", [
    (dict(hidden_size=100, num_attention_heads=12), "divisible by num_attention_heads"),
    (dict(num_hidden_layers=5, num_hidden_groups=2), "divisible by num_hidden_groups"),
    (dict(num_hidden_layers=2, num_hidden_groups=2, inner_group_num=2), "inner_group_num"),
    (dict(vocab_size=0), "vocab_size must be >= 1"),
    (dict(hidden_size=True), "not a bool"),
    (dict(num_hidden_layers=2.0), "must be an int"),
    (dict(hidden_dropout_prob=1.5), r"hidden_dropout_prob must be a number in \[0, 1\]"),
    (dict(attention_probs_dropout_prob=-0.1), "attention_probs_dropout_prob"),
    (dict(layer_norm_eps=0.0), "layer_norm_eps must be a finite number > 0"),
    (dict(hidden_act="gelu_fancy"), "hidden_act 'gelu_fancy' is not supported"),
    (dict(position_embedding_type="rotary"), "position_embedding_type 'rotary'"),
    (dict(problem_type="ranking"), "problem_type"),
    (dict(pad_token_id=True), "pad_token_id"),
])
def test_validation_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        AlbertConfig(**{"hidden_size": 64, "num_attention_heads": 4, **kwargs})


def test_bad_model_type_and_json(tmp_path):
    with pytest.raises(ConfigError, match="model_type is 'bert'"):
        AlbertConfig.from_dict({"model_type": "bert"})
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        AlbertConfig.from_json_file(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        AlbertConfig.from_json_file(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="num_labels"):
        AlbertConfig.from_dict({"num_labels": 0})


@pytest.mark.parametrize("layers", [10**6, 2**31, 2**63])
def test_a_layer_count_beyond_the_bound_is_refused_before_any_backend_is_built(tmp_path, monkeypatch, layers):
    """ALBERT's shared layers leave `num_hidden_layers` free of the weights: a hand-edited config.json beside valid
    weights is refused at load, naming the file, the field, the value, the limit and the way past it."""
    from albert_core.numpy_backend.backend import NumpyBackend

    folder = albert_core.save(albert_core.load("random:tiny"), tmp_path / "model")
    data = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**data, "num_hidden_layers": layers}))
    monkeypatch.setattr(NumpyBackend, "build", lambda *a, **k: pytest.fail("a backend was built"))
    with pytest.raises(ConfigError) as info:
        albert_core.load(folder)
    message = str(info.value)
    for part in (str(folder / "config.json"), f"num_hidden_layers={layers}", f"than the {albert_core.MAX_LAYER_PASSES}"
                 " allowed", "allow_layer_passes"):
        assert part in message, message


def test_layer_passes_count_inner_layers_and_a_caller_may_allow_more():
    shape = dict(vocab_size=10, embedding_size=4, hidden_size=4, num_attention_heads=1, intermediate_size=4)
    limit = albert_core.MAX_LAYER_PASSES
    assert AlbertConfig(**shape, num_hidden_layers=limit).layer_passes == limit
    with pytest.raises(ConfigError, match=f"inner_group_num=2 is {limit + 2} layer passes"):
        AlbertConfig(**shape, num_hidden_layers=limit // 2 + 1, inner_group_num=2)
    with albert_core.allow_layer_passes(4 * limit):
        deep = AlbertConfig(**shape, num_hidden_layers=4 * limit)
        out = albert_core.load(albert_core.Checkpoint(deep, albert_core.init_params(deep, "base", 0)))(
            np.array([[2, 5, 3]]))
        assert np.isfinite(out.last_hidden_state).all()
    with pytest.raises(ConfigError, match="layer passes"):  # the allowance ends with the block
        AlbertConfig(**shape, num_hidden_layers=4 * limit)
    for bad in (0, -1, True, 2.5, "9"):
        with pytest.raises(ConfigError, match="allow_layer_passes"):
            with albert_core.allow_layer_passes(bad):
                pass
