"""TensorFlow-specific behaviour of albert-tensorflow (the op contract and common behaviour are in the
conformance suite; parity with HF in tests/parity/test_tensorflow_hf.py)."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import albert_core as ac  # noqa: E402
from albert_core.errors import BackendError, InputError  # noqa: E402
from albert_core.layout import kernel_name  # noqa: E402

CONFIG = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
              inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
              hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def load(task="base", seed=0, **kwargs):
    config = ac.AlbertConfig(**{**CONFIG, **kwargs.pop("config", {})})
    ckpt = ac.Checkpoint(config, ac.init_params(config, task, seed=seed))
    return ac.load(ckpt, backend="tensorflow", task=task, **kwargs)


def ids(batch=2, seq=7, seed=0):
    return np.random.default_rng(seed).integers(5, 99, (batch, seq))


def test_registering_does_not_import_tensorflow():
    code = ("import sys, albert_core; names = albert_core.available_backends(); "
            "assert 'tensorflow' in names, names; assert 'tensorflow' not in sys.modules; "
            "from albert_core.plugins import manager; manager.formats.names(); "
            "assert 'tensorflow' not in sys.modules; import albert_tensorflow; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_params_are_hf_named_variables_and_trainable_only_when_asked():
    frozen, trainable = load("pretraining"), load("pretraining", trainable=True)
    specs = ac.param_table(frozen.config, "pretraining")
    # Dense weights are Keras-layout [in, out] kernels, named so; the rest keep HF's name and shape.
    expected = {kernel_name(s.name) if s.dense else s.name: s.shape[::-1] if s.dense else s.shape for s in specs}
    assert {n: tuple(v.shape) for n, v in frozen.params.items()} == expected
    assert all(isinstance(v, tf.Variable) for v in frozen.params.values())
    assert frozen.trainable_variables == () and len(trainable.trainable_variables) == len(specs)
    host, tensors = frozen.numpy_params(), ac.init_params(frozen.config, "pretraining", seed=0)
    for name in ("predictions.bias", "predictions.dense.weight"):  # HF's names and layout again
        np.testing.assert_array_equal(host[name], tensors[name])


def test_gradient_tape_reaches_every_parameter():
    model = load("pretraining", trainable=True)
    x = ids()
    labels = np.where(np.arange(7) % 2 == 0, x, -100)
    with tf.GradientTape() as tape:
        loss = model(x, labels=labels, sentence_order_label=np.array([0, 1])).loss
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_max(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in grads)


def test_dropout_only_in_training_and_seeded_by_rng():
    model = load("base")
    x = ids()
    eval_a, eval_b = model(x).last_hidden_state, model(x).last_hidden_state
    np.testing.assert_array_equal(eval_a, eval_b)
    seeded_a = model(x, training=True, rng=3).last_hidden_state
    seeded_b = model(x, training=True, rng=3).last_hidden_state
    other = model(x, training=True, rng=4).last_hidden_state
    np.testing.assert_array_equal(seeded_a, seeded_b)
    assert not np.allclose(seeded_a, eval_a) and not np.allclose(seeded_a, other)
    gen = tf.random.Generator.from_seed(1)
    assert not np.allclose(model(x, training=True, rng=gen).last_hidden_state, eval_a)
    assert not np.allclose(model(x, training=True).last_hidden_state, eval_a)  # TF's global RNG
    traces = model.trace_count
    model(x, training=True, rng=5)
    assert model.trace_count == traces  # a new integer seed is a tensor argument: no retrace


def test_one_trace_per_bucket_and_bucketing_changes_nothing():
    model = load("token-classification", config=dict(position_embedding_type="relative_key"))
    model.bucket_multiple = 16
    exact = load("token-classification", config=dict(position_embedding_type="relative_key"))
    exact.bucket_multiple = 1
    for seq in (3, 9, 16):
        out = model(ids(seq=seq), output_attentions=True, output_hidden_states=True)
        ref = exact(ids(seq=seq), output_attentions=True, output_hidden_states=True)
        assert out.logits.shape == (2, seq, 2)
        np.testing.assert_allclose(out.logits, ref.logits, atol=1e-5)
        np.testing.assert_allclose(out.attentions[-1], ref.attentions[-1], atol=1e-6)
    assert model.trace_count == 1 and exact.trace_count == 3
    model(ids(seq=17))
    assert model.trace_count == 2
    assert model.trace_signatures[-1][0] == (("input_ids", (2, 32)), ("attention_mask", (2, 32)))[::-1]


def test_fully_padded_row_is_finite_in_half_precision():
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]])
    for dtype in ("bfloat16", "float16"):
        out = load("sequence-classification", dtype=dtype)(ids(seq=5), attention_mask=mask, output_attentions=True)
        assert out.logits.dtype.name == dtype
        assert np.isfinite(ac.get_backend("tensorflow").ops.to_numpy(out.logits)).all()
        probs = np.asarray(tf.cast(out.attentions[0][1], tf.float32))
        np.testing.assert_allclose(probs, 1 / 5, atol=1e-2)  # uniform, never NaN


def test_bad_ids_raise_the_core_error_before_tensorflow_runs():
    model = load("base")
    with pytest.raises(InputError, match="input_ids has value 99"):
        model(tf.constant([[2, 99, 3]]))
    with pytest.raises(InputError, match="token_type_ids"):
        model([[2, 5, 3]], token_type_ids=[[0, 2, 0]])
    graph_fn = tf.function(lambda x: model(input_ids=x).last_hidden_state)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids must be < 99"):
        graph_fn(tf.constant([[2, 99, 3]], tf.int64))


def test_device_argument():
    assert load("base").device == "/CPU:0"
    if tf.config.list_logical_devices("GPU"):
        assert load("base", device="gpu").device == "/GPU:0"
    else:
        with pytest.raises(BackendError, match="GPU"):
            load("base", device="gpu")
    with pytest.raises(BackendError, match="not understood"):
        load("base", device="tpu-ish")


def test_saved_model_serving_signature_round_trip(tmp_path):
    model = load("masked-lm")

    class Serving(tf.Module):
        def __init__(self, albert):
            super().__init__()
            self.albert = albert

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None, None], tf.int64)])
        def __call__(self, input_ids, attention_mask):
            return {"logits": self.albert(input_ids=input_ids, attention_mask=attention_mask).logits}

    serving = Serving(model)
    tf.saved_model.save(serving, str(tmp_path / "albert"), signatures=serving.__call__)
    restored = tf.saved_model.load(str(tmp_path / "albert"))
    x, mask = ids(batch=3, seq=6), np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 6])
    served = restored.signatures["serving_default"](input_ids=tf.constant(x), attention_mask=tf.constant(mask))
    np.testing.assert_allclose(served["logits"], model(x, attention_mask=mask).logits, atol=1e-5)
    np.testing.assert_allclose(restored(tf.constant(x[:1, :4]), tf.constant(mask[:1, :4]))["logits"],
                               model(x[:1, :4]).logits, atol=1e-5)
