"""Parity of the albert-torch backend with HF transformers' PyTorch ALBERT, on random weights saved by HF.

Every task head, with padded batches, token types, a head mask, hidden states, attentions and losses,
must match within 1e-5 (float32, CPU); gradients of the loss wrt every parameter match HF's run in float64
within the error model of `conftest.assert_gradients_close`.
HF runs eager attention here because it is the only HF path that returns attentions, applies head masks
and supports relative positions.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("USE_TF", "0")  # transformers must not pull TensorFlow/Flax into this process
os.environ.setdefault("USE_FLAX", "0")
import albert_torch  # noqa: F401  (the parity session installs every backend)
import torch
import transformers
from conftest import assert_gradients_close, assert_loss_close, float64_loss_and_grads

import albert_core  # noqa: E402
from albert_core.layout import ARCHITECTURES as HF_CLASSES

SMALL = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
             inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
             hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, hidden_act="gelu_new",
             initializer_range=0.1)
VARIANTS = {
    "absolute": {},
    "relative_key": dict(position_embedding_type="relative_key"),
    "relative_key_query": dict(position_embedding_type="relative_key_query"),
    "gelu": dict(hidden_act="gelu"),
    "relu": dict(hidden_act="relu", num_hidden_groups=1, inner_group_num=1),
    "no_projection": dict(embedding_size=32),
}
B, S, C = 3, 9, 2
ATOL = RTOL = 1e-5


def labels_for(task: str) -> int:
    """HF sizes the SOP and QA heads by num_labels, so those need 2; the others get 3 to catch mix-ups."""
    return 2 if task in ("pretraining", "question-answering") else 3


def make_pair(tmp_path, task: str, variant: str = "absolute", seed: int = 0, trainable: bool = False, **extra):
    """An HF model with perturbed random weights (so every bias and norm matters), saved and loaded by us."""
    cfg = transformers.AlbertConfig(**{**SMALL, **VARIANTS[variant], **extra}, attn_implementation="eager")
    torch.manual_seed(seed)
    hf = getattr(transformers, HF_CLASSES[task])(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path / f"{task}-{variant}-{seed}"
    hf.save_pretrained(folder, safe_serialization=True)
    ours = albert_core.load(folder, backend="torch", task=task, trainable=trainable)
    assert ours.load_info.initialized == []
    return hf, ours


def make_inputs(task: str, rng: np.random.Generator, vocab: int = 99) -> dict[str, torch.Tensor]:
    shape = (B, C, S) if task == "multiple-choice" else (B, S)
    mask = np.ones(shape, np.int64)
    mask[1, ..., S - 3:] = 0  # padded rows of two lengths
    mask[-1, ..., S - 4:] = 0
    return {
        "input_ids": torch.from_numpy(rng.integers(0, vocab, shape)),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy((np.arange(S) >= S // 2).astype(np.int64) * np.ones(shape, np.int64)),
    }


def make_labels(task: str, rng: np.random.Generator, num_labels: int, vocab: int = 99) -> dict[str, torch.Tensor]:
    t = torch.from_numpy
    if task == "pretraining":
        labels = rng.integers(0, vocab, (B, S))
        labels[:, ::3] = -100
        return {"labels": t(labels), "sentence_order_label": t(rng.integers(0, 2, B))}
    if task == "masked-lm":
        labels = rng.integers(0, vocab, (B, S))
        labels[0, :4] = -100
        return {"labels": t(labels)}
    if task == "token-classification":
        labels = rng.integers(0, num_labels, (B, S))
        labels[1, -3:] = -100
        return {"labels": t(labels)}
    if task == "question-answering":  # the last start is out of range: clamped and ignored, as HF does
        return {"start_positions": t(np.array([1, 4, S + 5])), "end_positions": t(np.array([3, 6, 2]))}
    if task == "multiple-choice":
        return {"labels": t(rng.integers(0, C, B))}
    if task == "sequence-classification":
        return {"labels": t(rng.integers(0, num_labels, B))}
    return {}


def assert_outputs_match(ours, hf_out) -> None:
    assert set(ours) - {"loss"} <= {k for k in hf_out.keys()} | {"pooler_output"}
    for field, value in ours.items():
        expected = getattr(hf_out, field)
        assert expected is not None, field
        if isinstance(value, tuple):
            assert len(value) == len(expected), field
            for i, (a, b) in enumerate(zip(value, expected)):
                np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=RTOL, atol=ATOL,
                                           err_msg=f"{field}[{i}]")
        else:
            assert isinstance(value, torch.Tensor), field
            np.testing.assert_allclose(value.detach().numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=field)


@pytest.mark.parametrize("task", list(HF_CLASSES))
def test_every_head_matches_hf_with_all_outputs(tmp_path, task):
    hf, ours = make_pair(tmp_path, task, num_labels=labels_for(task))
    rng = np.random.default_rng(1)
    inputs = {**make_inputs(task, rng), **make_labels(task, rng, 3)}
    head_mask = torch.ones(4, 4)
    head_mask[1, 2] = 0.0
    head_mask[3, 0] = 0.5
    kwargs = dict(head_mask=head_mask, output_attentions=True, output_hidden_states=True)
    with torch.no_grad():
        expected = hf(**inputs, **kwargs)
        got = ours(**inputs, **kwargs)
    assert len(got["attentions"]) == 4 * 2 and len(got["hidden_states"]) == 4 + 1
    assert ("loss" in got) == (task != "base")
    assert_outputs_match(got, expected)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "absolute"])
def test_variants_match_hf(tmp_path, variant):
    hf, ours = make_pair(tmp_path, "pretraining", variant)
    rng = np.random.default_rng(2)
    inputs = {**make_inputs("pretraining", rng), **make_labels("pretraining", rng, 2)}
    with torch.no_grad():
        # The fast path (fused attention, no extra outputs) and the full path must both match.
        assert_outputs_match(ours(**inputs), hf(**inputs))
        assert_outputs_match(ours(**inputs, output_attentions=True, output_hidden_states=True),
                             hf(**inputs, output_attentions=True, output_hidden_states=True))


@pytest.mark.parametrize("problem, num_labels, labels", [
    ("regression", 1, np.array([0.5, -1.0, 2.0], np.float32)),
    ("multi-label", 3, np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]], np.float32)),
])
def test_sequence_classification_losses_match_hf(tmp_path, problem, num_labels, labels):
    hf, ours = make_pair(tmp_path, "sequence-classification", num_labels=num_labels)
    inputs = {**make_inputs("sequence-classification", np.random.default_rng(3)), "labels": torch.from_numpy(labels)}
    with torch.no_grad():
        assert_outputs_match(ours(**inputs), hf(**inputs))


def test_inputs_embeds_and_position_ids_match_hf(tmp_path):
    hf, ours = make_pair(tmp_path, "base")
    rng = np.random.default_rng(4)
    embeds = torch.from_numpy(rng.normal(size=(B, S, 16)).astype(np.float32))
    positions = torch.from_numpy(rng.integers(0, 64, (B, S)))
    with torch.no_grad():
        assert_outputs_match(ours(inputs_embeds=embeds, position_ids=positions),
                             hf(inputs_embeds=embeds, position_ids=positions))


def test_fully_padded_row_matches_hf(tmp_path):
    hf, ours = make_pair(tmp_path, "base")
    ids = torch.from_numpy(np.random.default_rng(5).integers(0, 99, (2, S)))
    mask = torch.ones(2, S, dtype=torch.long)
    mask[1] = 0
    with torch.no_grad():
        got = ours(ids, attention_mask=mask)
        assert torch.isfinite(got["last_hidden_state"]).all()
        assert_outputs_match(got, hf(ids, attention_mask=mask))


def test_state_dict_loads_into_hf(tmp_path):
    hf, ours = make_pair(tmp_path, "pretraining", seed=0)
    other = transformers.AlbertForPreTraining(hf.config).eval()  # different random weights
    result = other.load_state_dict(ours.state_dict(), strict=False)
    assert result.unexpected_keys == []
    # Only HF's tied copies of the decoder and its position-id buffer are absent from ours.
    assert set(result.missing_keys) <= {"predictions.decoder.weight", "predictions.decoder.bias",
                                        "albert.embeddings.position_ids"}
    ids = torch.from_numpy(np.random.default_rng(6).integers(0, 99, (B, S)))
    with torch.no_grad():
        assert_outputs_match(ours(ids), other(ids))


GRAD_TASKS = ["pretraining", "sequence-classification", "token-classification", "question-answering",
              "multiple-choice"]


@pytest.mark.parametrize("task, variant", [(t, "absolute") for t in GRAD_TASKS]
                         + [("masked-lm", "relative_key_query"), ("masked-lm", "gelu")])
def test_gradients_match_hf(tmp_path, request, task, variant):
    hf, ours = make_pair(tmp_path, task, variant, trainable=True, num_labels=labels_for(task))
    rng = np.random.default_rng(7)
    inputs = {**make_inputs(task, rng), **make_labels(task, rng, 3)}
    assert (inputs["input_ids"] == 0).any()  # the pad row gets no gradient, in HF (padding_idx) and here
    ref_loss, ref_grads = float64_loss_and_grads(hf, inputs)
    loss = ours(**inputs)["loss"]
    loss.backward()
    names = [n for n, _ in ours.named_parameters()]
    assert sorted(names) == sorted(s.name for s in albert_core.param_table(ours.config, task))
    grads = {}
    for name, p in ours.named_parameters():
        if p.grad is None:  # unused by HF too (absolute positions under relative types): HF's is zero
            assert not ref_grads[name].any(), f"{name}: no gradient here, HF has one"
            grads[name] = np.zeros(tuple(p.shape))
        else:
            grads[name] = p.grad.numpy()
    assert_gradients_close(grads, ref_grads, request.node.name)
    assert_loss_close(float(loss.detach()), ref_loss)
