"""Shared fixtures for parity against HF transformers (<5): random HF models saved as safetensors folders.

Every parity test module builds on `hf_folder(variant, task)` and `hf_inputs(...)` so the configs and inputs
checked are the same for every backend.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import torch
import transformers

from albert_core.layout import ARCHITECTURES
from albert_core.tokenizer import AlbertTokenizer

# The official ALBERT 30k vocabulary, rebuilt for tests (never copied into the project).
SPIECE_MODEL = Path(__file__).resolve().parents[2].parent / "shared/assets/albert-30k/spiece.model"

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


@pytest.fixture(scope="session")
def ours() -> AlbertTokenizer:
    """This project's tokenizer on the official vocabulary."""
    return AlbertTokenizer(SPIECE_MODEL)


@pytest.fixture(scope="session")
def hf_slow():
    """HF's slow AlbertTokenizer (the reference ids) on the same vocabulary."""
    transformers.logging.set_verbosity_error()
    return transformers.AlbertTokenizer(vocab_file=str(SPIECE_MODEL), model_max_length=512)


@pytest.fixture(scope="session")
def hf_fast():
    """HF's fast (Rust) AlbertTokenizerFast, converted from the same vocabulary."""
    transformers.logging.set_verbosity_error()
    return transformers.AlbertTokenizerFast(vocab_file=str(SPIECE_MODEL), model_max_length=512)


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


# Gradients: the error model. The reference is HF's PyTorch class run in float64 on the same weights and inputs,
# so its own rounding (~1e-16 relative) is negligible and the tolerance covers only our float32 error. Each
# gradient entry is a sum over the backward graph of products of activations and upstream gradients; every one of
# those roundings has relative error <= eps32 (1.19e-7) of a term no larger than the model's largest gradient G
# times O(1) activations (layer-normed), and sums of a few hundred terms accumulate them like a random walk.
# So every entry is held to GRAD_ULPS float32 ulps of G:  |ours - ref| <= GRAD_ULPS * eps32 * G.
# Measured (see the margin summary pytest prints for this folder): the worst entry over every gradient test,
# with threads on/off and oneDNN on/off, is under 1/10 of this; a real bug (a head's sign, a group index)
# moves gradients by a sizeable fraction of G, millions of ulps.
EPS32 = float(np.finfo(np.float32).eps)
GRAD_ULPS = 256
GRADIENT_MARGINS: dict[str, float] = {}  # test id -> worst |error| / tolerance, printed at the end of the run


def float64_loss_and_grads(model, inputs: Mapping) -> tuple[float, dict[str, np.ndarray]]:
    """HF's loss and the gradient of every parameter (HF names, a tied weight under each of its names), from a
    float64 copy of `model` in eval mode; parameters the loss does not reach get zeros."""
    ref = copy.deepcopy(model).double().eval()
    ref.zero_grad(set_to_none=True)
    args = {k: torch.as_tensor(np.asarray(v)) for k, v in inputs.items()}
    loss = ref(**{k: v.double() if v.is_floating_point() else v for k, v in args.items()}).loss
    loss.backward()
    return float(loss.detach()), {name: np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy()
                         for name, p in ref.named_parameters(remove_duplicate=False)}


def assert_loss_close(ours: float, ref: float) -> None:
    """A float32 loss against the float64 one: a scalar after a few thousand roundings of O(1) terms."""
    assert abs(ours - ref) <= GRAD_ULPS * EPS32 * max(1.0, abs(ref)), f"loss {ours!r} vs float64 {ref!r}"


def assert_gradients_close(ours: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], test_id: str) -> None:
    """Every gradient of `ours` (HF names) within the error model above of the float64 reference `ref`."""
    assert set(ours) <= set(ref), f"gradients with no HF parameter: {sorted(set(ours) - set(ref))}"
    scale = max(float(np.abs(g).max()) for g in ref.values())
    assert scale > 0, "the reference loss has no gradient at all"
    tol = GRAD_ULPS * EPS32 * scale
    worst = 0.0
    for name in sorted(ours):
        got, want = np.asarray(ours[name], np.float64), ref[name]
        assert got.shape == want.shape, f"{name}: gradient shape {got.shape}, HF {want.shape}"
        diff = float(np.abs(got - want).max())
        worst = max(worst, diff / tol)
        assert diff <= tol, (f"{name}: max |ours - float64 HF| = {diff:.3g} > {tol:.3g} ({GRAD_ULPS} float32 ulps "
                             f"of the largest gradient {scale:.3g}; {diff / (EPS32 * scale):.0f} ulps)")
    GRADIENT_MARGINS[test_id] = worst


def pytest_terminal_summary(terminalreporter) -> None:
    if GRADIENT_MARGINS:
        terminalreporter.section(f"gradient error / tolerance ({GRAD_ULPS} float32 ulps of the largest gradient)")
        for test_id, ratio in sorted(GRADIENT_MARGINS.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{ratio:8.4f}  {test_id}")
