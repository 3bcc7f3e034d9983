"""JAX-specific behaviour: plugin laziness, pytree params, jit/grad of apply, dropout keys, bucketing,
half precision on padded rows, host validation instead of NaN, devices. Common behaviour lives in the
conformance suite."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_test_helpers import load_tiny, tiny_config

import albert_core as ac
from albert_core import BackendError, InputError
from albert_core.checkpoints import CheckpointFolder
from albert_core.layout import kernel_name

IDS = np.array([[2, 11, 12, 13, 14, 3, 0], [2, 21, 22, 3, 0, 0, 0]])
MASK = (IDS != 0).astype(np.int64)


def test_registering_the_plugin_does_not_import_jax():
    code = ("import sys, albert_core as ac; names = ac.available_backends(); "
            "assert 'jax' in names, names; assert 'jax' not in sys.modules, 'jax imported at discovery'; "
            "assert 'albert_jax.backend' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_params_are_a_flat_pytree_with_hf_names():
    model = load_tiny("pretraining")
    specs = ac.param_table(model.config, "pretraining")
    # Dense weights are [in, out] kernels (Flax's layout), named so; everything else has HF's name and shape.
    expected = {kernel_name(s.name) if s.dense else s.name: s.shape[::-1] if s.dense else s.shape for s in specs}
    assert list(model.params) == list(expected) and "predictions.dense.kernel" in expected
    leaves = jax.tree_util.tree_leaves(model.params)  # dict leaves come in sorted-key order
    assert len(leaves) == len(specs)
    for name, leaf in zip(sorted(model.params), leaves):
        assert isinstance(leaf, jax.Array) and leaf.shape == expected[name]
    host = model.numpy_params()
    assert all(host[s.name].dtype == np.float32 and host[s.name].shape == s.shape for s in specs)
    tensors = ac.init_params(model.config, "pretraining", seed=0)
    for name in ("predictions.dense.weight", "albert.embeddings.word_embeddings.weight"):  # HF layout again
        np.testing.assert_array_equal(host[name], tensors[name])


def test_apply_under_jit_matches_call_and_numpy_reference():
    model = load_tiny("pretraining")
    ref = load_tiny("pretraining", backend="numpy")
    jitted = jax.jit(lambda p, i, m: model.apply(p, input_ids=i, attention_mask=m))
    out = jitted(model.params, jnp.asarray(IDS), jnp.asarray(MASK))
    called = model(IDS, attention_mask=MASK)
    expected = ref(IDS, attention_mask=MASK)
    for key in ("prediction_logits", "sop_logits"):
        np.testing.assert_allclose(np.asarray(out[key]), np.asarray(called[key]), atol=1e-5)
        np.testing.assert_allclose(np.asarray(out[key]), expected[key], atol=1e-5)


def test_grad_of_apply_reaches_every_parameter():
    model = load_tiny("sequence-classification")
    labels = jnp.asarray([1, 0])

    def loss_fn(params):
        return model.apply(params, input_ids=jnp.asarray(IDS), attention_mask=jnp.asarray(MASK), labels=labels).loss

    loss, grads = jax.jit(jax.value_and_grad(loss_fn))(model.params)
    assert np.isfinite(float(loss))
    assert set(grads) == set(model.params)
    for name, g in grads.items():
        g = np.asarray(g)
        assert np.isfinite(g).all(), name
        if "position_embeddings" not in name and "token_type" not in name and "word_embeddings" not in name:
            assert np.abs(g).max() > 0, f"no gradient reaches {name}"


def test_dropout_uses_the_key_and_only_in_training():
    model = load_tiny("base", hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    eval_a = model(IDS, attention_mask=MASK).last_hidden_state
    eval_b = model(IDS, attention_mask=MASK, training=False).last_hidden_state
    np.testing.assert_array_equal(np.asarray(eval_a), np.asarray(eval_b))
    key = jax.random.key(0)
    train_a = model(IDS, attention_mask=MASK, training=True, rng=key).last_hidden_state
    train_b = model(IDS, attention_mask=MASK, training=True, rng=key).last_hidden_state
    train_c = model(IDS, attention_mask=MASK, training=True, rng=jax.random.key(1)).last_hidden_state
    np.testing.assert_array_equal(np.asarray(train_a), np.asarray(train_b))
    assert np.abs(np.asarray(train_a) - np.asarray(train_c)).max() > 1e-3
    assert np.abs(np.asarray(train_a) - np.asarray(eval_a)).max() > 1e-3
    with pytest.raises(InputError, match="rng=jax.random.key"):
        model(IDS, training=True)
    with pytest.raises(InputError, match="rng=jax.random.key"):
        jax.jit(lambda p: model.apply(p, input_ids=jnp.asarray(IDS), training=True))(model.params)


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_bucketing_keeps_real_token_outputs_and_compiles_once_per_bucket(position_embedding_type):
    model = load_tiny("masked-lm", position_embedding_type=position_embedding_type)
    exact = load_tiny("masked-lm", position_embedding_type=position_embedding_type)
    exact.bucket_multiple = 1  # no padding: the reference for the padded runs
    labels = np.where(MASK == 1, IDS, -100)
    kwargs = dict(attention_mask=MASK, output_hidden_states=True, output_attentions=True, labels=labels)
    padded, unpadded = model(IDS, **kwargs), exact(IDS, **kwargs)
    assert padded.logits.shape == unpadded.logits.shape == (2, 7, 99)
    for key in ("logits", "loss"):
        np.testing.assert_allclose(np.asarray(padded[key]), np.asarray(unpadded[key]), atol=2e-6)
    for a, b in zip(padded.hidden_states + padded.attentions, unpadded.hidden_states + unpadded.attentions):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6)
    assert model.compilations == 1
    rng = np.random.default_rng(0)
    for seq in (3, 9, 20, 32):  # all in the first bucket (32)
        model(rng.integers(4, 99, (2, seq)), attention_mask=np.ones((2, seq), np.int64), **{
            k: v for k, v in kwargs.items() if k.startswith("output")})
    assert model.compilations == 1
    model(rng.integers(4, 99, (2, 33)))
    assert model.compilations == 2  # a new bucket (64), and different output flags, compile again


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_fully_padded_row_has_no_nan(dtype):
    model = load_tiny("pretraining", dtype=dtype)
    mask = MASK.copy()
    mask[1] = 0  # a row with no token at all
    out = model(IDS, attention_mask=mask, output_attentions=True)
    assert out.prediction_logits.dtype == jnp.dtype(dtype)
    for value in (out.prediction_logits, out.sop_logits, *out.attentions):
        assert np.isfinite(np.asarray(value, np.float32)).all()
    # A fully masked row attends uniformly over its keys.
    np.testing.assert_allclose(np.asarray(out.attentions[0][1], np.float32), 1 / IDS.shape[1], rtol=1e-2)
    ref = load_tiny("pretraining", dtype="float32")(IDS, attention_mask=MASK)
    half = model(IDS, attention_mask=MASK)
    np.testing.assert_allclose(np.asarray(half.sop_logits, np.float32), np.asarray(ref.sop_logits), atol=5e-2)


@pytest.mark.parametrize("bad, match", [
    (dict(input_ids=np.array([[2, 99, 3]])), "input_ids has value 99"),
    (dict(input_ids=np.array([[2, -1, 3]])), "input_ids has value -1"),
    (dict(input_ids=np.ones((1, 65), np.int64)), "exceeds max_position_embeddings=64"),
    (dict(input_ids=np.array([[2, 5, 3]]), attention_mask=np.array([[1, 2, 1]])), "attention_mask has value 2"),
    (dict(input_ids=np.array([[2, 5, 3]]), token_type_ids=np.array([[0, 2, 0]])), "token_type_ids has value 2"),
])
def test_bad_inputs_raise_the_core_errors_instead_of_nan(bad, match):
    model = load_tiny("base")
    with pytest.raises(InputError, match=match):
        model(**bad)
    assert model.compilations == 0  # rejected on the host, before anything was compiled or run


def test_device_selection():
    model = load_tiny("base")
    assert model.device.platform == "cpu"
    assert all(next(iter(x.devices())).platform == "cpu" for x in model.params.values())
    config = tiny_config()
    ckpt = ac.Checkpoint(config, ac.init_params(config, "base", 0), source="tiny")
    has_gpu = any(d.platform == "gpu" for d in jax.devices())
    if has_gpu:
        on_gpu = ac.load(ckpt, backend="jax", device="gpu")
        assert next(iter(on_gpu.params["albert.pooler.kernel"].devices())).platform == "gpu"
        out = on_gpu(IDS, attention_mask=MASK).last_hidden_state
        assert next(iter(out.devices())).platform == "gpu"
    else:
        with pytest.raises(BackendError, match="not available to JAX"):
            ac.load(ckpt, backend="jax", device="cuda")
    with pytest.raises(BackendError, match="not known"):
        ac.load(ckpt, backend="jax", device="abacus")
    assert ac.load(ckpt, backend="jax", device=jax.devices("cpu")[0]).device == jax.devices("cpu")[0]


def test_saved_fine_tuned_params_round_trip(tmp_path):
    model = load_tiny("token-classification")
    params = jax.tree_util.tree_map(lambda x: x * 1.5, model.params)
    ac.save(params, tmp_path, config=model.config, task=model.task)
    again = ac.load(tmp_path, backend="jax", task="token-classification")
    for name, value in params.items():  # kernels written as HF's transposed weights and read back as kernels
        np.testing.assert_array_equal(np.asarray(again.params[name]), np.asarray(value))
    hf = CheckpointFolder(tmp_path)
    np.testing.assert_array_equal(hf["classifier.weight"], np.asarray(params["classifier.kernel"]).T)


def test_large_batches_compile_with_the_cpu_gemm_option_and_give_the_same_numbers(monkeypatch):
    import albert_jax.model as jax_model

    model = load_tiny("base")
    x = np.random.default_rng(0).integers(1, 99, (2, 9))
    small = model(x).last_hidden_state
    assert jax_model._large_batch_options_supported()  # this jaxlib accepts it: the fast path is live
    monkeypatch.setattr(jax_model, "LARGE_BATCH_ROWS", 2)
    calls, original = [], model._jitted_large
    model._jitted_large = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    large = model(x).last_hidden_state
    assert calls, "a batch at or above LARGE_BATCH_ROWS rows must use the large-batch compilation"
    np.testing.assert_allclose(np.asarray(large), np.asarray(small), rtol=1e-5, atol=1e-5)
