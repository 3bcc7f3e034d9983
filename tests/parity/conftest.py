"""Shared fixtures for parity against HF transformers (<5): random HF models saved as safetensors folders.

Every parity test module builds on `hf_folder(variant, task)` and `hf_inputs(...)` so the configs and inputs
checked are the same for every backend.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import torch
import transformers

from albert_core.layout import ARCHITECTURES

BASE = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
            inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
            type_vocab_size=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, num_labels=3)
VARIANTS = {
    "groups": {},
    "relative_key": dict(position_embedding_type="relative_key", hidden_act="gelu"),
    "relative_key_query": dict(position_embedding_type="relative_key_query", hidden_act="relu"),
    "silu_one_group": dict(hidden_act="silu", num_hidden_groups=1, inner_group_num=1),
    "embedding_eq_hidden": dict(embedding_size=32, num_hidden_groups=4, inner_group_num=1),
}
HF_CLASSES = ARCHITECTURES  # task -> HF class name
TASKS = tuple(HF_CLASSES)


def hf_config(variant: str, **overrides):
    kwargs = {**BASE, **VARIANTS[variant], **overrides}
    return transformers.AlbertConfig(**kwargs, attn_implementation="eager")


def build_hf_model(variant: str, task: str, seed: int = 0, **overrides):
    """A seeded random HF PyTorch model; every parameter (incl. LayerNorms and biases) is randomised."""
    torch.manual_seed(seed)
    if task in ("pretraining", "question-answering"):
        overrides.setdefault("num_labels", 2)  # HF sizes the SOP and span heads by num_labels and needs 2
    model = getattr(transformers, HF_CLASSES[task])(hf_config(variant, **overrides))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)  # larger than init so that every term of the forward matters
    return model.eval()


@pytest.fixture
def hf_folder(tmp_path):
    """`hf_folder(variant, task)` -> (folder, HF model) with the model saved by HF as safetensors."""

    def make(variant: str, task: str, seed: int = 0, **overrides):
        model = build_hf_model(variant, task, seed, **overrides)
        folder = tmp_path / f"{variant}-{task}-{seed}"
        model.save_pretrained(folder, safe_serialization=True)
        return folder, model

    return make


def hf_inputs(task: str, config, seed: int = 0, batch: int = 3, seq: int = 11, labels: bool = True,
              head_mask: bool = False) -> dict[str, np.ndarray]:
    """A padded batch (rows of different lengths) with token types and, if asked, labels and a head mask."""
    rng = np.random.default_rng(seed)
    lead = (batch, 2) if task == "multiple-choice" else (batch,)
    ids = rng.integers(5, config.vocab_size, (*lead, seq))
    mask = np.ones_like(ids)
    lengths = rng.integers(2, seq + 1, lead)
    lengths.reshape(-1)[0] = seq
    for idx in np.ndindex(*lead):
        mask[idx][lengths[idx]:] = 0
        ids[idx][lengths[idx]:] = 0
    out = dict(input_ids=ids, attention_mask=mask, token_type_ids=(rng.random(ids.shape) > 0.5).astype(np.int64))
    if head_mask:
        hm = np.ones((config.num_hidden_layers, config.num_attention_heads))
        hm[0, 1] = 0.0
        hm[2, 0] = 0.5
        out["head_mask"] = hm
    if not labels:
        return out
    if task in ("masked-lm", "pretraining"):
        lab = rng.integers(0, config.vocab_size, ids.shape)
        lab[rng.random(ids.shape) < 0.5] = -100
        out["labels"] = lab
        if task == "pretraining":
            out["sentence_order_label"] = rng.integers(0, 2, (batch,))
    elif task == "token-classification":
        out["labels"] = np.where(mask == 1, rng.integers(0, config.num_labels, ids.shape), -100)
    elif task == "sequence-classification":
        out["labels"] = rng.integers(0, config.num_labels, (batch,))
    elif task == "multiple-choice":
        out["labels"] = rng.integers(0, 2, (batch,))
    elif task == "question-answering":
        out["start_positions"] = rng.integers(0, seq, (batch,))
        out["end_positions"] = np.array([seq + 3, *rng.integers(0, seq, (batch - 1,))])  # one clamped
    return out


def float_label_case(hf_folder, problem: str):
    """(folder, HF model, inputs) for a sequence-classification loss with float labels: `regression` (one
    label) or `multi_label_classification` (three 0/1 targets per row)."""
    overrides = dict(problem_type=problem, num_labels=1 if problem == "regression" else 3)
    folder, hf_model = hf_folder("groups", "sequence-classification", **overrides)
    inputs = hf_inputs("sequence-classification", hf_model.config, labels=False)
    rng = np.random.default_rng(1)
    inputs["labels"] = rng.random(3).astype(np.float32) if problem == "regression" else \
        (rng.random((3, 3)) > 0.5).astype(np.float32)
    return folder, hf_model, inputs


def hf_forward(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """HF PyTorch outputs as float64 NumPy arrays (tuples flattened to name.i)."""
    t = {k: torch.as_tensor(v) if k != "head_mask" else torch.as_tensor(v, dtype=torch.float32)
         for k, v in inputs.items()}
    with torch.no_grad():
        out = model(**t, output_hidden_states=True, output_attentions=True, return_dict=True)
    return flatten({k: v for k, v in out.items() if v is not None}, lambda x: x.detach().double().numpy())


def flatten(out, to_numpy) -> dict[str, np.ndarray]:
    flat = {}
    for key, value in out.items():
        if isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                flat[f"{key}.{i}"] = np.asarray(to_numpy(v), dtype=np.float64)
        else:
            flat[key] = np.asarray(to_numpy(value), dtype=np.float64)
    return flat


def assert_outputs_close(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray], atol: float = 1e-5,
                         rtol: float = 1e-5) -> None:
    assert sorted(ours) == sorted(ref), f"output fields differ: ours {sorted(ours)} vs HF {sorted(ref)}"
    for key in ref:
        np.testing.assert_allclose(ours[key], ref[key], atol=atol, rtol=rtol, err_msg=f"output {key!r}")
