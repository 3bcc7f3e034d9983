"""Parity of the JAX backend with HF transformers: PyTorch ALBERT (every head, argument and loss) and Flax
ALBERT (where it has the head), on random weights that HF itself saved; gradients of every loss with respect
to every parameter against PyTorch autograd in float64. Test-only dependency: transformers<5 with torch and flax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from conftest import assert_gradients_close, assert_loss_close, float64_loss_and_grads

import albert_core as ac
from albert_core.layout import canonical_name, hf_layout

ATOL = 1e-5
SMALL = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
             inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0,
             initializer_range=0.2, num_labels=3)  # large init: every term matters
VARIANTS = {
    "absolute-gelu_new": {},
    "relative_key": dict(position_embedding_type="relative_key"),
    "relative_key_query": dict(position_embedding_type="relative_key_query"),
    "gelu": dict(hidden_act="gelu"),
    "relu": dict(hidden_act="relu"),
    "embedding_eq_hidden": dict(embedding_size=32),
}
TORCH_CLASSES = {
    "base": "AlbertModel", "pretraining": "AlbertForPreTraining", "masked-lm": "AlbertForMaskedLM",
    "sequence-classification": "AlbertForSequenceClassification",
    "token-classification": "AlbertForTokenClassification",
    "question-answering": "AlbertForQuestionAnswering", "multiple-choice": "AlbertForMultipleChoice",
}
B, C, S = 3, 2, 9


def hf_model(tmp_path_factory, task: str, variant: str = "absolute-gelu_new", **extra):
    """An HF PyTorch model with seeded random weights, saved by HF as safetensors; (model, folder)."""
    torch.manual_seed(0)
    if task in ("pretraining", "question-answering"):
        extra.setdefault("num_labels", 2)  # HF sizes the SOP and span heads by num_labels
    # Eager attention: HF's only path that returns attentions and applies head masks.
    config = transformers.AlbertConfig(**{**SMALL, **VARIANTS[variant], **extra}, attn_implementation="eager")
    model = getattr(transformers, TORCH_CLASSES[task])(config).eval()
    folder = tmp_path_factory.mktemp(f"{task}-{variant}")
    model.save_pretrained(folder, safe_serialization=True)
    return model, folder


def make_inputs(task: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Padded batch: ids, mask with padding (one row fully padded), token types, labels for the task."""
    rng = np.random.default_rng(seed)
    shape = (B, C, S) if task == "multiple-choice" else (B, S)
    ids = rng.integers(4, 99, shape)
    mask = np.ones(shape, np.int64)
    mask[1, ..., 6:] = 0
    mask[2] = 0  # a fully padded example
    types = (np.arange(S) >= 4).astype(np.int64) * np.ones(shape, np.int64)
    out = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
    token_labels = np.where(rng.random((B, S)) < 0.5, rng.integers(0, 99, (B, S)), -100)
    if task in ("pretraining", "masked-lm"):
        out["labels"] = token_labels
    if task == "pretraining":
        out["sentence_order_label"] = np.array([0, 1, 1])
    if task == "token-classification":
        out["labels"] = np.where(token_labels >= 0, token_labels % 3, -100)
    if task == "sequence-classification":
        out["labels"] = np.array([2, 0, 1])
    if task == "multiple-choice":
        out["labels"] = np.array([1, 0, 1])
    if task == "question-answering":
        out["start_positions"], out["end_positions"] = np.array([1, 3, 40]), np.array([2, 8, 5])  # 40: ignored
    return out


def torch_run(model, inputs, **kwargs):
    args = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in {**inputs, **kwargs}.items()}
    with torch.no_grad():
        return model(**args)


def compare(ours, theirs, atol=ATOL):
    for key in ("loss", "last_hidden_state", "pooler_output", "prediction_logits", "sop_logits", "logits",
                "start_logits", "end_logits"):
        if theirs.get(key) is not None:
            assert ours.get(key) is not None, key
            np.testing.assert_allclose(np.asarray(ours[key]), theirs[key].detach().numpy(), atol=atol,
                                       rtol=ATOL, err_msg=key)
    for key in ("hidden_states", "attentions"):
        if theirs.get(key) is not None:
            assert len(ours[key]) == len(theirs[key]), key
            for a, b in zip(ours[key], theirs[key]):
                np.testing.assert_allclose(np.asarray(a), b.numpy(), atol=atol, err_msg=key)


@pytest.mark.parametrize("task", list(TORCH_CLASSES))
def test_every_head_matches_pytorch_with_losses_and_all_outputs(tmp_path_factory, task):
    model, folder = hf_model(tmp_path_factory, task)
    ours = ac.load(folder, backend="jax", task=task)
    reference = ac.load(folder, backend="numpy", task=task)
    inputs = make_inputs(task)
    head_mask = np.array([[1, 0, 1, 1], [1, 1, 1, 1], [0, 1, 1, 0], [1, 1, 0.5, 1]], np.float32)
    flags = dict(output_attentions=True, output_hidden_states=True)
    compare(ours(**inputs, **flags), torch_run(model, inputs, **flags))
    compare(ours(**inputs, head_mask=head_mask), torch_run(model, inputs, head_mask=head_mask))
    np_out = reference(**inputs)
    for key, value in ours(**inputs).items():
        np.testing.assert_allclose(np.asarray(value), np_out[key], atol=ATOL, err_msg=f"vs numpy: {key}")


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "absolute-gelu_new"])
@pytest.mark.parametrize("task", ["base", "question-answering"])
def test_variants_match_pytorch(tmp_path_factory, variant, task):
    model, folder = hf_model(tmp_path_factory, task, variant)
    ours = ac.load(folder, backend="jax", task=task)
    inputs = make_inputs(task, seed=1)
    flags = dict(output_attentions=True, output_hidden_states=True)
    compare(ours(**inputs, **flags), torch_run(model, inputs, **flags))


@pytest.mark.parametrize("problem, labels", [
    ("regression", np.array([0.5, -1.0, 2.0], np.float32)),
    ("multi_label_classification", np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]], np.float32)),
])
def test_classification_losses_match_pytorch(tmp_path_factory, problem, labels):
    num_labels = 1 if problem == "regression" else 3
    model, folder = hf_model(tmp_path_factory, "sequence-classification", num_labels=num_labels,
                             problem_type=problem)
    ours = ac.load(folder, backend="jax", task="sequence-classification")
    inputs = {**make_inputs("sequence-classification"), "labels": labels}
    compare(ours(**inputs), torch_run(model, inputs))


def test_inputs_embeds_and_position_ids_match_pytorch(tmp_path_factory):
    model, folder = hf_model(tmp_path_factory, "base")
    ours = ac.load(folder, backend="jax", task="base")
    inputs = make_inputs("base", seed=2)
    embeds = np.random.default_rng(3).normal(size=(B, S, 16)).astype(np.float32)
    positions = np.array([np.arange(S)[::-1]] * B)
    run = dict(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], position_ids=positions)
    compare(ours(**run), torch_run(model, run))


FLAX_CLASSES = {task: "Flax" + name for task, name in TORCH_CLASSES.items()}


@pytest.mark.parametrize("task", list(FLAX_CLASSES))
def test_every_head_matches_hf_flax(tmp_path_factory, task):
    import flax  # noqa: F401
    _, folder = hf_model(tmp_path_factory, task)
    flax_model = getattr(transformers, FLAX_CLASSES[task]).from_pretrained(folder, from_pt=True)
    ours = ac.load(folder, backend="jax", task=task)
    inputs = {k: v for k, v in make_inputs(task).items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    theirs = flax_model(**{k: jnp.asarray(v) for k, v in inputs.items()}, output_hidden_states=True,
                        output_attentions=True)
    mine = ours(**inputs, output_hidden_states=True, output_attentions=True)
    for key in ("last_hidden_state", "pooler_output", "prediction_logits", "sop_logits", "logits",
                "start_logits", "end_logits"):
        if getattr(theirs, key, None) is not None:
            np.testing.assert_allclose(np.asarray(mine[key]), np.asarray(getattr(theirs, key)), atol=ATOL,
                                       err_msg=key)
    for key in ("hidden_states", "attentions"):
        for a, b in zip(mine[key], getattr(theirs, key)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL, err_msg=key)


@pytest.mark.parametrize("task, variant", [(t, "absolute-gelu_new") for t in TORCH_CLASSES if t != "base"]
                         + [("masked-lm", "relative_key_query")])
def test_loss_gradients_match_pytorch_for_every_parameter(tmp_path_factory, request, task, variant):
    model, folder = hf_model(tmp_path_factory, task, variant)
    ours = ac.load(folder, backend="jax", task=task, trainable=True)
    inputs = make_inputs(task, seed=4)
    ref_loss, ref_grads = float64_loss_and_grads(model, inputs)
    ref_grads = {canonical_name(n): ref_grads[n] for n, _ in model.named_parameters()}  # tied ones once

    def loss_fn(params):
        return ours.apply(params, **{k: jnp.asarray(v) for k, v in inputs.items()}).loss

    loss, grads = jax.jit(jax.value_and_grad(loss_fn))(ours.params)
    grads = hf_layout(grads, jnp.transpose)  # kernels back to HF's weights
    assert set(grads) == set(ref_grads)
    assert_gradients_close(grads, ref_grads, request.node.name)
    assert_loss_close(float(loss), ref_loss)
