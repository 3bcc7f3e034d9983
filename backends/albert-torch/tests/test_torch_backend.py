"""Behaviour specific to the PyTorch backend: plugin laziness, nn.Module semantics, dtypes, devices, tensors.

What every backend must do (op contract, parity with the NumPy oracle, input errors) is the conformance
suite's job; parity with HF transformers lives in tests/parity/test_torch_hf.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import albert_core
from albert_core import AlbertConfig, BackendError, InputError, random_checkpoint

TINY = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=32, hidden_dropout_prob=0.2,
                    attention_probs_dropout_prob=0.2, classifier_dropout_prob=0.2)


def load(task="sequence-classification", config=TINY, **kwargs):
    return albert_core.load(random_checkpoint(config, task, seed=1), backend="torch", task=task, **kwargs)


def ids(batch=3, seq=7, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(1, 50, (batch, seq)))


def test_plugin_registers_without_importing_torch():
    code = ("import sys, albert_core; assert 'torch' in albert_core.available_backends(); "
            "assert 'torch' not in sys.modules, 'discovery imported torch'; "
            "assert 'albert_torch.backend' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_state_dict_keys_are_the_layout_names_and_module_is_in_eval_mode():
    model = load("pretraining")
    assert isinstance(model, torch.nn.Module) and not model.training
    assert sorted(model.state_dict()) == sorted(s.name for s in albert_core.param_table(TINY, "pretraining"))
    assert all(not p.requires_grad for p in model.parameters())
    assert model.config is not None and model.task == "pretraining" and model.dtype == "float32"


def test_dropout_only_in_training_mode_and_follows_torch_rng():
    model = load()
    x = ids()
    eval_a, eval_b = model(x).logits, model(x).logits
    assert torch.equal(eval_a, eval_b)
    model.train()
    torch.manual_seed(3)
    train_a = model(x).logits
    torch.manual_seed(3)
    train_b = model(x).logits
    assert torch.equal(train_a, train_b) and not torch.allclose(train_a, eval_a)
    gen_a = model(x, rng=torch.Generator().manual_seed(5)).logits
    gen_b = model(x, rng=torch.Generator().manual_seed(5)).logits
    assert torch.equal(gen_a, gen_b) and not torch.equal(gen_a, train_a)
    # The generator path covers attention dropout too (the reference attention body, not the fused kernel).
    assert not torch.equal(gen_a, model(x, rng=torch.Generator().manual_seed(6)).logits)
    model.eval()
    assert torch.equal(model(x).logits, eval_a)


def test_training_lowers_the_loss_and_gradients_reach_every_parameter():
    model = load(trainable=True)
    assert all(p.requires_grad for p in model.parameters())
    x, labels = ids(batch=4), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        first = model(x, labels=labels).loss.item()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(8):
        opt.zero_grad()
        model(x, labels=labels).loss.backward()
        opt.step()
    unused = {"albert.embeddings.word_embeddings.weight"}  # only rows of the ids used get gradient
    assert all(p.grad is not None and (p.grad.abs().sum() > 0 or n in unused) for n, p in model.named_parameters())
    model.eval()
    with torch.no_grad():
        assert model(x, labels=labels).loss.item() < first


def test_inputs_embeds_tensor_keeps_autograd():
    model = load("base")
    embeds = torch.randn(2, 5, TINY.embedding_size, requires_grad=True)
    model(inputs_embeds=embeds).last_hidden_state.sum().backward()
    assert embeds.grad is not None and embeds.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("extra", [{}, {"output_attentions": True}])
def test_half_precision_close_to_float32_and_no_nan_on_fully_padded_rows(dtype, extra):
    ref, model = load("base"), load("base", dtype=dtype)
    assert model.dtype == dtype and model.albert.embeddings.LayerNorm.weight.dtype == getattr(torch, dtype)
    x = ids()
    mask = torch.ones_like(x)
    mask[1] = 0  # a fully padded row
    mask[2, 4:] = 0
    with torch.no_grad():
        got = model(x, attention_mask=mask, **extra)
        want = ref(x, attention_mask=mask, **extra)
    assert got.last_hidden_state.dtype == getattr(torch, dtype)
    assert torch.isfinite(got.last_hidden_state.float()).all() and torch.isfinite(got.pooler_output.float()).all()
    torch.testing.assert_close(got.last_hidden_state.float(), want.last_hidden_state, atol=0.1, rtol=0.05)
    for a in got.attentions or ():
        assert torch.isfinite(a.float()).all()


def test_to_dtype_after_loading_matches_loading_in_that_dtype():
    x = ids()
    with torch.no_grad():
        converted = load("masked-lm").to(torch.bfloat16)(x).logits
        direct = load("masked-lm", dtype="bfloat16")(x).logits
    assert converted.dtype == torch.bfloat16 and torch.equal(converted, direct)


def test_torch_list_and_numpy_inputs_give_the_same_torch_outputs():
    model = load("token-classification")
    x = ids()
    with torch.no_grad():
        outs = [model(x).logits, model(x.numpy()).logits, model(x.tolist()).logits, model(x.int()).logits]
    assert all(isinstance(o, torch.Tensor) for o in outs)
    assert all(torch.equal(outs[0], o) for o in outs[1:])


def test_bad_torch_inputs_raise_the_core_errors():
    model = load()
    bad = ids()
    bad[1, 2] = 50
    with pytest.raises(InputError, match=r"input_ids has value 50 at position \(1, 2\)"):
        model(bad)
    with pytest.raises(InputError, match="attention_mask"):
        model(ids(), attention_mask=torch.full((3, 7), 2))


def test_device_argument():
    assert load(device="cpu").device.type == "cpu"
    if torch.cuda.is_available():
        model = load(device="cuda")
        assert model.device.type == "cuda" and model(ids()).logits.device.type == "cuda"
    else:
        with pytest.raises(BackendError, match="no CUDA device"):
            load(device="cuda")
    with pytest.raises(BackendError, match="not a torch device"):
        load(device="toaster")


def test_numpy_params_are_float32_copies_that_save_round_trips(tmp_path):
    model = load("multiple-choice", dtype="bfloat16")
    params = model.numpy_params()
    assert all(v.dtype == np.float32 for v in params.values())
    params["classifier.bias"][:] = 7.0
    assert not (model.classifier.bias == 7.0).any()
    albert_core.save(model, tmp_path / "saved")
    again = albert_core.load(tmp_path / "saved", backend="torch", task="multiple-choice", dtype="bfloat16")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_float32_weights_map_the_file_copy_on_write_and_survive_saving_over_it(tmp_path):
    folder = albert_core.save(load("sequence-classification"), tmp_path / "m")
    file_bytes = (folder / "model.safetensors").read_bytes()
    model = albert_core.load(folder, backend="torch", task="sequence-classification")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = ids()
    logits = model(x).logits
    with torch.no_grad():  # writes to a mapped parameter stay in this process (copy-on-write)
        model.classifier.bias.add_(1.0)
    assert (folder / "model.safetensors").read_bytes() == file_bytes
    # Saving other weights into the same folder replaces the file; the live model keeps its own bytes.
    albert_core.save(random_checkpoint(TINY, "sequence-classification", seed=2).weights, folder, config=TINY,
                     task="sequence-classification")
    assert (folder / "model.safetensors").read_bytes() != file_bytes
    with torch.no_grad():
        model.classifier.bias.sub_(1.0)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    torch.testing.assert_close(model(x).logits, logits, rtol=0, atol=0)
