"""The `tf1-checkpoint` format: Google ALBERT TF1 checkpoints (and TF-Hub / TF2 model-garden names) -> HF names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from albert_tensorflow.tf1_checkpoint import TF1CheckpointFormat, skip_reason

import albert_core
from albert_core import CheckpointError
from albert_core.checkpoints import CheckpointFolder, convert

# albert_config.json as google-research/albert writes it (legacy keys included, "gelu" meaning tanh gelu).
TINY = dict(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=4, num_hidden_groups=2,
            inner_group_num=2, num_attention_heads=2, intermediate_size=24, max_position_embeddings=32,
            type_vocab_size=2, hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            initializer_range=0.02, down_scale_factor=1, gap_size=0, net_structure_type=0, num_memory_blocks=0)
ONE_LAYER = {**TINY, "num_hidden_groups": 1, "inner_group_num": 1}
IDS = np.array([[2, 5, 9, 11, 3, 0], [2, 7, 7, 3, 0, 0]])


def tf1_variables(cfg: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights under the original variable names and shapes (kernels [in, out])."""
    rng = np.random.default_rng(seed)
    V, E, H, I = cfg["vocab_size"], cfg["embedding_size"], cfg["hidden_size"], cfg["intermediate_size"]
    shapes = {
        "bert/embeddings/word_embeddings": (V, E),
        "bert/embeddings/position_embeddings": (cfg["max_position_embeddings"], E),
        "bert/embeddings/token_type_embeddings": (cfg["type_vocab_size"], E),
        "bert/embeddings/LayerNorm/gamma": (E,), "bert/embeddings/LayerNorm/beta": (E,),
        "bert/encoder/embedding_hidden_mapping_in/kernel": (E, H),
        "bert/encoder/embedding_hidden_mapping_in/bias": (H,),
        "bert/pooler/dense/kernel": (H, H), "bert/pooler/dense/bias": (H,),
        "cls/predictions/transform/dense/kernel": (H, E), "cls/predictions/transform/dense/bias": (E,),
        "cls/predictions/transform/LayerNorm/gamma": (E,), "cls/predictions/transform/LayerNorm/beta": (E,),
        "cls/predictions/output_bias": (V,),
        "cls/seq_relationship/output_weights": (2, H), "cls/seq_relationship/output_bias": (2,),
    }
    for g in range(cfg["num_hidden_groups"]):
        for i in range(cfg["inner_group_num"]):
            p = f"bert/encoder/transformer/group_{g}/inner_group_{i}"
            for scope, (n_in, n_out) in {"attention_1/self/query": (H, H), "attention_1/self/key": (H, H),
                                         "attention_1/self/value": (H, H), "attention_1/output/dense": (H, H),
                                         "ffn_1/intermediate/dense": (H, I),
                                         "ffn_1/intermediate/output/dense": (I, H)}.items():
                shapes[f"{p}/{scope}/kernel"], shapes[f"{p}/{scope}/bias"] = (n_in, n_out), (n_out,)
            for norm in ("LayerNorm", "LayerNorm_1"):
                shapes[f"{p}/{norm}/gamma"], shapes[f"{p}/{norm}/beta"] = (H,), (H,)
    return {name: rng.normal(0, 0.5, shape).astype(np.float32) for name, shape in shapes.items()}


def with_training_state(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Adds what a training run saves besides weights: Adam/LAMB slots and the step counter."""
    out = dict(variables)
    for name, value in variables.items():
        out[f"{name}/adam_m"], out[f"{name}/adam_v"] = np.ones_like(value), np.full_like(value, 2.0)
    out["global_step"] = np.array(1234, np.int64)
    return out


def save_v1(prefix, variables: dict[str, np.ndarray]) -> None:
    """Write a checkpoint with TensorFlow's v1 Saver in graph mode, under exactly these names."""
    with tf.Graph().as_default():
        var_list = {name: tf.compat.v1.Variable(value, name=f"v{i}") for i, (name, value) in
                    enumerate(variables.items())}
        saver = tf.compat.v1.train.Saver(var_list)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(prefix), write_meta_graph=False)


def write_release(folder, variables, cfg=TINY, prefix_name="model.ckpt-best", tokenizer=b"spm bytes"):
    """A folder as Google's release tarballs hold it: checkpoint, albert_config.json, 30k-clean.model."""
    folder.mkdir(parents=True, exist_ok=True)
    save_v1(folder / prefix_name, variables)
    (folder / "albert_config.json").write_text(json.dumps(cfg))
    if tokenizer is not None:
        (folder / "30k-clean.model").write_bytes(tokenizer)
    return folder


def read_all(path) -> dict[str, np.ndarray]:
    ckpt = TF1CheckpointFormat().read(path)
    return {name: ckpt.weights[name] for name in ckpt.weights}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    variables = tf1_variables(TINY)
    folder = write_release(tmp_path_factory.mktemp("tf1") / "albert_tiny", with_training_state(variables))
    return folder, variables


def test_format_is_registered_by_the_plugin():
    assert "tf1-checkpoint" in albert_core.plugins.manager.formats.names()
    fmt = albert_core.plugins.manager.formats.get("tf1-checkpoint")
    assert isinstance(fmt, TF1CheckpointFormat) and fmt.name == "tf1-checkpoint" and fmt.description


def test_read_maps_names_transposes_kernels_and_skips_training_state(release):
    folder, variables = release
    ckpt = TF1CheckpointFormat().read(folder)
    assert ckpt.config.hidden_act == "gelu_new"  # the original code's gelu is the tanh approximation
    assert (ckpt.config.num_hidden_groups, ckpt.config.inner_group_num) == (2, 2)
    assert ckpt.tokenizer_file.name == "30k-clean.model"
    assert len(ckpt.skipped) == 2 * len(variables) + 1
    assert "global_step (training bookkeeping)" in ckpt.skipped
    assert "bert/pooler/dense/kernel/adam_m (optimizer state)" in ckpt.skipped
    weights = {name: ckpt.weights[name] for name in ckpt.weights}
    assert len(weights) == len(variables)
    layer = "albert.encoder.albert_layer_groups.1.albert_layers.0"
    tf_layer = "bert/encoder/transformer/group_1/inner_group_0"
    expected = {
        "albert.embeddings.word_embeddings.weight": variables["bert/embeddings/word_embeddings"],
        "albert.encoder.embedding_hidden_mapping_in.weight":
            variables["bert/encoder/embedding_hidden_mapping_in/kernel"].T,
        f"{layer}.attention.query.weight": variables[f"{tf_layer}/attention_1/self/query/kernel"].T,
        f"{layer}.attention.dense.weight": variables[f"{tf_layer}/attention_1/output/dense/kernel"].T,
        f"{layer}.attention.LayerNorm.weight": variables[f"{tf_layer}/LayerNorm/gamma"],
        f"{layer}.ffn.weight": variables[f"{tf_layer}/ffn_1/intermediate/dense/kernel"].T,
        f"{layer}.ffn_output.bias": variables[f"{tf_layer}/ffn_1/intermediate/output/dense/bias"],
        f"{layer}.full_layer_layer_norm.bias": variables[f"{tf_layer}/LayerNorm_1/beta"],
        "albert.pooler.weight": variables["bert/pooler/dense/kernel"].T,
        "predictions.dense.weight": variables["cls/predictions/transform/dense/kernel"].T,
        "predictions.LayerNorm.weight": variables["cls/predictions/transform/LayerNorm/gamma"],
        "predictions.bias": variables["cls/predictions/output_bias"],
        "sop_classifier.classifier.weight": variables["cls/seq_relationship/output_weights"],
    }
    for name, value in expected.items():
        assert weights[name].dtype == np.float32 and weights[name].flags.c_contiguous
        np.testing.assert_array_equal(weights[name], value, err_msg=name)
        assert ckpt.shape(name) == value.shape


def test_detect_uses_file_names_only(release, tmp_path):
    folder, _ = release
    fmt = TF1CheckpointFormat()
    assert fmt.detect(folder) and fmt.detect(folder / "model.ckpt-best")
    assert fmt.detect(folder / "model.ckpt-best.index")
    assert not fmt.detect(tmp_path) and not fmt.detect(tmp_path / "nothing")
    (tmp_path / "hf").mkdir()  # an HF folder is not a TF checkpoint
    (tmp_path / "hf" / "config.json").write_text("{}")
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"")
    assert not fmt.detect(tmp_path / "hf")
    script = ("import sys; from albert_tensorflow.tf1_checkpoint import TF1CheckpointFormat as F; "
              f"assert F().detect({str(folder)!r}); assert 'tensorflow' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_convert_release_folder_to_hf_folder(release, tmp_path):
    folder, _ = release
    report = convert(folder, tmp_path / "hf")
    assert report.format == "tf1-checkpoint" and report.task == "pretraining" and report.hidden_act == "gelu_new"
    assert len(report.skipped) > 0 and report.dropped == []
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == ["config.json", "model.safetensors", "spiece.model"]
    assert (tmp_path / "hf" / "spiece.model").read_bytes() == b"spm bytes"
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["hidden_act"] == "gelu_new" and config["architectures"] == ["AlbertForPreTraining"]
    assert "down_scale_factor" not in config
    written = CheckpointFolder(tmp_path / "hf")
    for name, value in read_all(folder).items():
        np.testing.assert_array_equal(written[name], value)
    # The same checkpoint is also reachable through albert_core.load without converting.
    direct = albert_core.load(folder, backend="numpy", task="pretraining")(IDS)
    converted = albert_core.load(tmp_path / "hf", backend="numpy", task="pretraining")(IDS)
    np.testing.assert_array_equal(direct.prediction_logits, converted.prediction_logits)


def test_tf_hub_module_prefix(release, tmp_path):
    folder, variables = release
    write_release(tmp_path / "hub", {f"module/{k}": v for k, v in with_training_state(variables).items()})
    reference = read_all(folder)
    hub = read_all(tmp_path / "hub")
    assert hub.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(hub[name], reference[name])


def test_state_file_picks_the_latest_and_ambiguity_is_an_error(tmp_path):
    old, new = tf1_variables(TINY, seed=1), tf1_variables(TINY, seed=2)
    folder = write_release(tmp_path / "run", old, prefix_name="model.ckpt-100")
    save_v1(folder / "model.ckpt-200", new)  # the Saver's `checkpoint` file now names model.ckpt-200
    got = read_all(folder)
    np.testing.assert_array_equal(got["predictions.bias"], new["cls/predictions/output_bias"])
    np.testing.assert_array_equal(read_all(folder / "model.ckpt-100")["predictions.bias"],
                                  old["cls/predictions/output_bias"])
    (folder / "checkpoint").unlink()
    with pytest.raises(CheckpointError, match=r"holds 2 checkpoints.*pass the prefix"):
        TF1CheckpointFormat().read(folder)
    (folder / "albert_config.json").unlink()
    with pytest.raises(CheckpointError, match="no albert_config.json next to the checkpoint"):
        TF1CheckpointFormat().read(folder / "model.ckpt-100")


def model_garden_keras_names(variables: dict[str, np.ndarray], heads: int) -> dict[str, np.ndarray]:
    """The names (and 3-D attention shapes) of tf-models' tf2_albert_encoder_checkpoint_converter."""
    layer = "bert/encoder/transformer/group_0/inner_group_0"
    renames = {
        "bert/embeddings/word_embeddings": "word_embeddings/embeddings",
        "bert/embeddings/position_embeddings": "position_embedding/embeddings",
        "bert/embeddings/token_type_embeddings": "type_embeddings/embeddings",
        "bert/embeddings/LayerNorm": "embeddings/layer_norm",
        "bert/encoder/embedding_hidden_mapping_in": "embedding_projection",
        f"{layer}/attention_1/self/query": "transformer/self_attention/query",
        f"{layer}/attention_1/self/key": "transformer/self_attention/key",
        f"{layer}/attention_1/self/value": "transformer/self_attention/value",
        f"{layer}/attention_1/output/dense": "transformer/self_attention/attention_output",
        f"{layer}/LayerNorm_1": "transformer/output_layer_norm",
        f"{layer}/LayerNorm": "transformer/self_attention_layer_norm",
        f"{layer}/ffn_1/intermediate/output/dense": "transformer/output",
        f"{layer}/ffn_1/intermediate/dense": "transformer/intermediate",
        "bert/pooler/dense": "pooler_transform",
        "cls/predictions/transform": "bert/cls/predictions/transform",
        "cls/predictions/output_bias": "bert/cls/predictions/output_bias/bias",
        "cls/seq_relationship/output_weights": "predictions/transform/logits/kernel",
        "cls/seq_relationship/output_bias": "predictions/transform/logits/bias",
    }
    out = {}
    for name, value in variables.items():
        old = next(k for k in renames if name == k or name.startswith(k + "/"))
        new = renames[old] + name[len(old):]
        if "self_attention/attention_output/kernel" in new:
            value = value.reshape(heads, -1, value.shape[1])
        elif any(f"self_attention/{p}/" in new for p in ("query", "key", "value")):
            value = value.reshape(value.shape[0], heads, -1) if new.endswith("kernel") else value.reshape(heads, -1)
        elif new == "predictions/transform/logits/kernel":
            value = value.T
        out[new] = value
    return out


def test_tf2_model_garden_keras_names(tmp_path):
    variables = tf1_variables(ONE_LAYER, seed=4)
    write_release(tmp_path / "tf1", variables, cfg=ONE_LAYER)
    write_release(tmp_path / "tf2", model_garden_keras_names(variables, ONE_LAYER["num_attention_heads"]),
                  cfg=ONE_LAYER)
    reference, got = read_all(tmp_path / "tf1"), read_all(tmp_path / "tf2")
    assert got.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(got[name], reference[name], err_msg=name)


def _module(**children):
    module = tf.Module()
    for name, child in children.items():
        setattr(module, name, child)  # object-based checkpoint keys are these attribute names
    return module


def save_object_based(prefix, variables: dict[str, np.ndarray], cfg: dict, projection: bool = True) -> None:
    """A TF2 object-based checkpoint shaped like the model garden's AlbertEncoder + BertPretrainerV2 MLM."""
    heads = cfg["num_attention_heads"]
    layer = "bert/encoder/transformer/group_0/inner_group_0"

    def var(name, reshape=None):
        value = variables[name]
        return tf.Variable(value.reshape(reshape) if reshape else value)

    def dense(scope, kernel_shape=None, bias_shape=None):
        return _module(kernel=var(f"{scope}/kernel", kernel_shape), bias=var(f"{scope}/bias", bias_shape))

    def norm(scope):
        return _module(gamma=var(f"{scope}/gamma"), beta=var(f"{scope}/beta"))

    H = cfg["hidden_size"]
    attention = _module(
        _query_dense=dense(f"{layer}/attention_1/self/query", (H, heads, -1), (heads, -1)),
        _key_dense=dense(f"{layer}/attention_1/self/key", (H, heads, -1), (heads, -1)),
        _value_dense=dense(f"{layer}/attention_1/self/value", (H, heads, -1), (heads, -1)),
        _output_dense=dense(f"{layer}/attention_1/output/dense", (heads, -1, H)))
    transformer = _module(_attention_layer=attention, _attention_layer_norm=norm(f"{layer}/LayerNorm"),
                          _intermediate_dense=dense(f"{layer}/ffn_1/intermediate/dense"),
                          _output_dense=dense(f"{layer}/ffn_1/intermediate/output/dense"),
                          _output_layer_norm=norm(f"{layer}/LayerNorm_1"))
    layers = [_module(embeddings=var("bert/embeddings/word_embeddings")),
              _module(embeddings=var("bert/embeddings/position_embeddings")),
              _module(embeddings=var("bert/embeddings/token_type_embeddings")),
              norm("bert/embeddings/LayerNorm")]
    if projection:
        layers.append(dense("bert/encoder/embedding_hidden_mapping_in"))
    layers += [transformer, dense("bert/pooler/dense")]
    encoder = _module(**{f"layer_with_weights-{i}": m for i, m in enumerate(layers)})
    masked_lm = _module(dense=dense("cls/predictions/transform/dense"),
                        layer_norm=norm("cls/predictions/transform/LayerNorm"),
                        **{"output_bias/bias": var("cls/predictions/output_bias")})
    tf.train.Checkpoint(encoder=encoder, masked_lm=masked_lm).write(str(prefix))


def test_tf2_object_based_checkpoint(tmp_path):
    variables = tf1_variables(ONE_LAYER, seed=5)
    write_release(tmp_path / "tf1", variables, cfg=ONE_LAYER)
    (tmp_path / "tf2").mkdir()
    save_object_based(tmp_path / "tf2" / "bert_model.ckpt", variables, ONE_LAYER)
    (tmp_path / "tf2" / "albert_config.json").write_text(json.dumps(ONE_LAYER))
    ckpt = TF1CheckpointFormat().read(tmp_path / "tf2")
    assert any(s.startswith("_CHECKPOINTABLE_OBJECT_GRAPH") for s in ckpt.skipped)
    reference = {k: v for k, v in read_all(tmp_path / "tf1").items() if not k.startswith("sop_classifier")}
    got = {name: ckpt.weights[name] for name in ckpt.weights}
    assert got.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(got[name], reference[name], err_msg=name)
    assert convert(tmp_path / "tf2", tmp_path / "hf").task == "masked-lm"  # no SOP head in the model garden


def test_tf2_object_based_without_projection_uses_identity(tmp_path):
    cfg = {**ONE_LAYER, "embedding_size": 16}
    variables = tf1_variables(cfg, seed=6)
    (tmp_path / "tf2").mkdir()
    save_object_based(tmp_path / "tf2" / "ckpt-1", variables, cfg, projection=False)
    (tmp_path / "tf2" / "albert_config.json").write_text(json.dumps(cfg))
    got = read_all(tmp_path / "tf2")
    np.testing.assert_array_equal(got["albert.encoder.embedding_hidden_mapping_in.weight"], np.eye(16))
    np.testing.assert_array_equal(got["albert.encoder.embedding_hidden_mapping_in.bias"], np.zeros(16))
    np.testing.assert_array_equal(got["albert.pooler.weight"], variables["bert/pooler/dense/kernel"].T)


def test_skip_reasons():
    assert skip_reason("encoder/layer_with_weights-0/embeddings/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/"
                       "VARIABLE_VALUE") == "optimizer state"
    assert skip_reason("save_counter/.ATTRIBUTES/VARIABLE_VALUE") == "training bookkeeping"
    assert skip_reason("bert/pooler/dense/kernel/Adam_1") == "optimizer state"
    assert skip_reason("bert/pooler/dense/kernel") is None


def test_bad_checkpoint_lists_unknown_missing_and_mismatched_and_writes_nothing(release, tmp_path):
    _, variables = release
    broken = dict(variables)
    del broken["bert/encoder/transformer/group_1/inner_group_1/ffn_1/intermediate/dense/bias"]
    broken["bert/pooler/dense/kernel"] = np.zeros((16, 5), np.float32)
    broken["bert/encoder/transformer/group_0/inner_group_0/attention_1/self/rotary/kernel"] = np.zeros(3, np.float32)
    broken["cls/squad/output_weights"] = np.zeros((2, 16), np.float32)
    write_release(tmp_path / "bad", broken)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "config.json").write_text("previous")
    with pytest.raises(CheckpointError) as err:
        convert(tmp_path / "bad", dst, overwrite=True)
    message = str(err.value)
    assert "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/rotary/kernel" in message
    assert "cls/squad/output_weights" in message
    assert "albert.encoder.albert_layer_groups.1.albert_layers.1.ffn.bias" in message
    assert "albert.pooler.weight (from bert/pooler/dense/kernel): checkpoint (5, 16), config expects (16, 16)" \
        in message
    assert sorted(p.name for p in dst.iterdir()) == ["config.json"]
    assert (dst / "config.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "dst"]


def test_config_that_does_not_fit_the_checkpoint(release, tmp_path):
    _, variables = release
    write_release(tmp_path / "wrong", variables, cfg={**TINY, "num_hidden_groups": 1})
    with pytest.raises(CheckpointError, match=r"group_1/inner_group_0.*not ALBERT weights|not ALBERT weights.*group_1"):
        convert(tmp_path / "wrong", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_run_classifier_head_sets_the_label_count(release, tmp_path):
    _, variables = release
    encoder = {k: v for k, v in variables.items() if not k.startswith("cls/")}
    rng = np.random.default_rng(0)
    head = {"output_weights": rng.normal(size=(3, 16)).astype(np.float32), "output_bias": np.zeros(3, np.float32)}
    write_release(tmp_path / "clf", {**encoder, **head}, tokenizer=None)
    report = convert(tmp_path / "clf", tmp_path / "hf")
    assert report.task == "sequence-classification" and report.tokenizer is None
    model = albert_core.load(tmp_path / "hf", backend="numpy", task="sequence-classification")
    assert model(IDS).logits.shape == (2, 3)
    np.testing.assert_array_equal(CheckpointFolder(tmp_path / "hf")["classifier.weight"], head["output_weights"])
