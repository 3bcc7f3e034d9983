"""A Google-style TF1 ALBERT checkpoint converted by us vs by HF's own `load_tf_weights_in_albert`.

The checkpoint is written with TensorFlow's v1 Saver under the original variable names (random values, plus
the Adam slots and `global_step` a training run leaves). HF's converter loads it into `AlbertForPreTraining`;
`albert_core.convert.convert` writes an HF folder. The weights must be identical, HF must load our folder
with no missing or unexpected keys, and every installed backend must reproduce HF's outputs on it.

HF's converter keeps albert_config.json's "gelu" (exact erf in HF); we read it as "gelu_new" because the
original code's gelu is the tanh approximation (docs/formats.md). The HF reference model is built with
"gelu_new" so that the comparison is of weights and conversion, not of that choice.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
from conftest import assert_outputs_close, flatten, hf_forward, hf_inputs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
import transformers

import albert_core  # noqa: E402
from albert_core.checkpoints import (
    CheckpointFolder,  # noqa: E402
    convert,  # noqa: E402
)
from albert_core.plugins import manager  # noqa: E402

ALBERT_CONFIG = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
                     inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                     type_vocab_size=2, hidden_act="gelu", hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, initializer_range=0.02, down_scale_factor=1, gap_size=0,
                     net_structure_type=0, num_memory_blocks=0)
INSTALLED_BACKENDS = [name for name in albert_core.available_backends()
                      if manager.backends.registration(name).framework_installed()]


def original_variables(cfg: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Every variable google-research/albert's pretraining graph saves, original names and [in, out] kernels."""
    rng = np.random.default_rng(seed)
    V, E, H, I, P = (cfg[k] for k in ("vocab_size", "embedding_size", "hidden_size", "intermediate_size",
                                      "max_position_embeddings"))
    shapes: dict[str, tuple[int, ...]] = {
        "bert/embeddings/word_embeddings": (V, E), "bert/embeddings/position_embeddings": (P, E),
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
            scope = f"bert/encoder/transformer/group_{g}/inner_group_{i}"
            for sub, (n_in, n_out) in {"attention_1/self/query": (H, H), "attention_1/self/key": (H, H),
                                       "attention_1/self/value": (H, H), "attention_1/output/dense": (H, H),
                                       "ffn_1/intermediate/dense": (H, I),
                                       "ffn_1/intermediate/output/dense": (I, H)}.items():
                shapes[f"{scope}/{sub}/kernel"], shapes[f"{scope}/{sub}/bias"] = (n_in, n_out), (n_out,)
            for norm in ("LayerNorm", "LayerNorm_1"):
                shapes[f"{scope}/{norm}/gamma"] = shapes[f"{scope}/{norm}/beta"] = (H,)
    weights = {name: rng.normal(0.0, 0.2, shape).astype(np.float32) for name, shape in shapes.items()}
    slots = {f"{name}/{slot}": np.abs(value) for name, value in weights.items() for slot in ("adam_m", "adam_v")}
    return {**weights, **slots, "global_step": np.array(125000, np.int64)}


def save_v1_checkpoint(prefix, variables: dict[str, np.ndarray]) -> None:
    with tf.Graph().as_default():
        var_list = {name: tf.compat.v1.Variable(value, name=f"v{i}") for i, (name, value) in
                    enumerate(variables.items())}
        saver = tf.compat.v1.train.Saver(var_list)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(prefix), write_meta_graph=False)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(our HF folder, HF's model converted by HF from the same checkpoint)."""
    root = tmp_path_factory.mktemp("tf1-parity")
    release = root / "albert_tiny"
    release.mkdir()
    save_v1_checkpoint(release / "model.ckpt-best", original_variables(ALBERT_CONFIG))
    (release / "albert_config.json").write_text(json.dumps(ALBERT_CONFIG))
    (release / "30k-clean.model").write_bytes(b"sentencepiece model bytes")
    report = convert(release, root / "hf")
    assert report.task == "pretraining" and report.format == "tf1-checkpoint"

    original = json.loads((release / "albert_config.json").read_text())
    hf_config = transformers.AlbertConfig(**{**original, "hidden_act": "gelu_new"},  # see the module docstring
                                          attn_implementation="eager")
    hf_model = transformers.AlbertForPreTraining(hf_config)
    with contextlib.redirect_stdout(io.StringIO()):  # HF's converter prints every variable name
        transformers.models.albert.modeling_albert.load_tf_weights_in_albert(
            hf_model, hf_config, str(release / "model.ckpt-best"))
    return root / "hf", hf_model.eval()


def test_weights_equal_hf_converter(converted):
    folder, hf_model = converted
    ours = CheckpointFolder(folder)
    hf_state = {k: v for k, v in hf_model.state_dict().items() if not k.startswith("predictions.decoder.")}
    hf_state.pop("albert.embeddings.position_ids", None)
    assert sorted(ours) == sorted(hf_state)
    for name in ours:
        np.testing.assert_array_equal(ours[name], hf_state[name].numpy(), err_msg=name)
    assert (folder / "spiece.model").read_bytes() == b"sentencepiece model bytes"


def test_hf_loads_our_folder_unchanged(converted):
    folder, hf_model = converted
    loaded, info = transformers.AlbertForPreTraining.from_pretrained(folder, output_loading_info=True,
                                                                    attn_implementation="eager")
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == [], info
    assert loaded.config.hidden_act == "gelu_new"
    inputs = hf_inputs("pretraining", hf_model.config)
    assert_outputs_close(hf_forward(loaded.eval(), inputs), hf_forward(hf_model, inputs), atol=1e-6, rtol=1e-6)


def _to_numpy(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value)


@pytest.mark.parametrize("backend", INSTALLED_BACKENDS)
def test_every_backend_matches_hf_converted_model(converted, backend):
    folder, hf_model = converted
    inputs = hf_inputs("pretraining", hf_model.config)
    ref = hf_forward(hf_model, inputs)
    model = albert_core.load(folder, backend=backend, task="pretraining")
    ours = flatten(model(**inputs, output_hidden_states=True, output_attentions=True), _to_numpy)
    assert_outputs_close(ours, ref)
