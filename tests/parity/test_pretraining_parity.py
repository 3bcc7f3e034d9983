"""Pretraining against HF transformers: a vocabulary trained by `albert vocab` loads in HF's `AlbertTokenizer`
(the reference; its fast converter differs from it on this vocabulary as on the released one) with the same
ids as ours on real text."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import transformers
from conftest import SPIECE_MODEL

from albert_core.pretraining.sample_corpus import write_sample_corpus
from albert_core.pretraining.vocab import train_vocab
from albert_core.tokenizer import AlbertTokenizer


def test_a_trained_vocabulary_gives_hf_the_same_ids(tmp_path):
    corpus = write_sample_corpus(tmp_path / "stdlib.txt")
    train_vocab(corpus, vocab_size=2000, output_dir=tmp_path / "vocab")
    ours = AlbertTokenizer.from_pretrained(tmp_path / "vocab")
    slow = transformers.AlbertTokenizer.from_pretrained(tmp_path / "vocab")
    lines = corpus.read_text(encoding="utf-8").split("\n")[:2000]
    lines += ["Déjà vu: ``QUOTED'' text, £5 and 3,000 [MASK] pieces.", "  Spaces\tand\nnewlines  "]
    expected = slow(lines)["input_ids"]
    assert ours(lines, return_tensors=None)["input_ids"] == expected
    assert [slow.convert_ids_to_tokens(i) for i in range(5)] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]


def _lamb_trajectories(adapt_all: bool, steps: int = 6):
    """The same parameters and gradients through optax and albert-torch's `Lamb` (float32), and, with the project's
    rule (trust ratio only where decayed), albert-tensorflow's native LAMB; weight decay on the decayed names, one
    zero tensor (trust ratio 1), the core's schedule. `adapt_all`: the trust ratio on every tensor, `optax.lamb`
    itself; else the chain the JAX backend builds."""
    import jax.numpy as jnp
    import optax
    import tensorflow as tf
    import torch
    from albert_jax.training import optax_schedule
    from albert_tensorflow.training import AdamW as TFOptimizer
    from albert_torch.lamb import Lamb

    from albert_core.training.schedule import LinearSchedule
    from albert_core.training.step import OptimizerOptions, decays

    rng = np.random.default_rng(0)
    shapes = {"dense.weight": (6, 5), "dense.bias": (6,), "LayerNorm.weight": (5,), "zero.weight": (3, 3)}
    params = {n: rng.normal(0, 0.5, s).astype(np.float32) for n, s in shapes.items()}
    params["zero.weight"][:] = 0.0
    grads = [{n: rng.normal(0, 1e-2 * (t + 1), s).astype(np.float32) for n, s in shapes.items()}
             for t in range(steps)]
    schedule = LinearSchedule(2e-2, 2, 10)
    mask = {n: decays(n) for n in shapes}
    if adapt_all:
        tx = optax.lamb(optax_schedule(schedule), eps=1e-6, weight_decay=0.01, mask=mask)
    else:
        tx = optax.chain(optax.scale_by_adam(eps=1e-6), optax.add_decayed_weights(0.01, mask),
                         optax.masked(optax.scale_by_trust_ratio(), mask),
                         optax.scale_by_learning_rate(optax_schedule(schedule)))
    p, want = {n: jnp.asarray(v) for n, v in params.items()}, []
    state = tx.init(p)
    for g in grads:
        updates, state = tx.update({n: jnp.asarray(v) for n, v in g.items()}, state, p)
        p = optax.apply_updates(p, updates)
        want.append({n: np.asarray(v) for n, v in p.items()})

    tp = {n: torch.nn.Parameter(torch.from_numpy(v.copy())) for n, v in params.items()}
    opt = Lamb([{"params": [tp[n] for n in shapes if decays(n)], "weight_decay": 0.01},
                {"params": [tp[n] for n in shapes if not decays(n)], "weight_decay": 0.0, "trust_ratio": adapt_all}],
               eps=1e-6)
    got = {"torch": []}
    for t, g in enumerate(grads):
        for group in opt.param_groups:
            group["lr"] = schedule.learning_rate(t)
        for n, v in g.items():
            tp[n].grad = torch.from_numpy(v)
        opt.step()
        got["torch"].append({n: v.detach().numpy().copy() for n, v in tp.items()})
    if not adapt_all:
        options = OptimizerOptions(schedule, weight_decay=0.01, adam_epsilon=1e-6, optimizer="lamb",
                                   max_grad_norm=None)
        variables = [tf.Variable(v) for v in params.values()]
        tf_opt = TFOptimizer(variables, [decays(n) for n in shapes], options)
        got["tensorflow"] = []
        for g in grads:
            tf_opt.apply([tf.constant(v) for v in g.values()], variables)
            got["tensorflow"].append({n: v.numpy() for n, v in zip(shapes, variables)})
    return params, want, got


@pytest.mark.parametrize("adapt_all", [True, False], ids=["optax.lamb", "albert-rule"])
def test_torch_and_tensorflow_lamb_match_optax(adapt_all):
    """Parameters after each of 6 steps within 1e-6. Not tighter: optax computes the bias correction 1 - beta2^t in
    float32, which cancels (6e-8 / 0.002 = 3e-5 relative at t = 1), so its steps of size lr (1e-2) carry ~3e-7 of
    rounding that torch's float64 correction does not (TensorFlow's float32 one matches optax to 3e-8)."""
    params, want, got = _lamb_trajectories(adapt_all)
    for t, expected in enumerate(want):
        for name, value in expected.items():
            for who, steps in got.items():
                np.testing.assert_allclose(steps[t][name], value, rtol=1e-6, atol=1e-6,
                                           err_msg=f"{who} step {t}: {name}")
    moved = np.abs(want[-1]["dense.weight"] - params["dense.weight"]).max()
    assert moved > 1e-3 and np.abs(want[-1]["zero.weight"]).max() > 0  # the steps did something, the zero moved


# ------------------------------------------------------------------------------------------------ pretraining
STEPS = 10
RESUME_AT = 5
PRETRAIN = dict(max_steps=STEPS, learning_rate=2e-3, warmup_steps=2, per_device_train_batch_size=4, dropout=0.0,
                seed=3, logging_steps=1, save_steps=RESUME_AT, plot=False, progress=False)
RESUMES = (("torch", "jax"), ("jax", "tensorflow"), ("tensorflow", "torch"))
HF_PRETRAIN_CONFIG = dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=37, max_position_embeddings=64,
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0,
                          initializer_range=0.1)
TERMS = ("loss", "mlm_loss", "sop_loss")


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory):
    """One data folder (real text, the official vocabulary), one HF `AlbertForPreTraining` folder, our 10-step runs
    on every backend and HF's class trained on the same batches with the same LAMB."""
    import torch

    from albert_core.pretraining.builder import DataOptions, build_pretraining_data
    from albert_core.pretraining.trainer import pretrain

    root = tmp_path_factory.mktemp("pretraining")
    corpus = write_sample_corpus(root / "corpus.txt", max_documents=150)
    build_pretraining_data(corpus, tokenizer=SPIECE_MODEL, output_dir=root / "data", workers=1,
                           options=DataOptions(max_seq_length=64, dupe_factor=1))
    torch.manual_seed(0)
    model = transformers.AlbertForPreTraining(transformers.AlbertConfig(**HF_PRETRAIN_CONFIG,
                                                                        attn_implementation="eager"))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.save_pretrained(root / "hf", safe_serialization=True)
    runs = {}
    for backend in ("torch", "jax", "tensorflow"):
        result = pretrain(train=str(root / "data"), model=str(root / "hf"), output_dir=str(root / backend),
                          backend=backend, **PRETRAIN)
        runs[backend] = {term: np.array([r[term] for r in result.log if term in r]) for term in TERMS}
    for source, target in RESUMES:  # the checkpoint one backend wrote at step 5, continued on another
        copy = root / f"{source}-to-{target}"
        shutil.copytree(root / source, copy)
        result = pretrain(train=str(root / "data"), model=str(root / "hf"), output_dir=str(copy), backend=target,
                          resume=str(copy / f"checkpoint-{RESUME_AT}"), **PRETRAIN)
        runs[f"{source}-to-{target}"] = {term: np.array([r[term] for r in result.log if term in r
                                                         and r["step"] > RESUME_AT]) for term in TERMS}
    runs["hf"] = _train_hf_pretraining(root)
    runs["root"] = root
    return runs


def _train_hf_pretraining(root):
    """HF's `AlbertForPreTraining` from the same folder on the trainer's own batches, with albert-torch's LAMB
    (PyTorch has none; it matches optax's, above) in the trainer's parameter groups, HF's linear schedule with
    warmup and `clip_grad_norm_`; the MLM and SOP terms from its logits."""
    import torch
    import torch.nn.functional as F
    from albert_torch.lamb import Lamb

    from albert_core.pretraining.trainer import PRETRAINING_DEFAULTS, PretrainRun
    from albert_core.training.options import TrainingOptions
    from albert_core.training.step import decays

    opts = TrainingOptions(task="pretraining", train=str(root / "data"), model=str(root / "hf"),
                           output_dir=str(root / "hf-run"), **{**PRETRAINING_DEFAULTS, **PRETRAIN})
    run = PretrainRun(opts)
    model = transformers.AlbertForPreTraining.from_pretrained(root / "hf", attn_implementation="eager")
    model.train()
    named = list(model.named_parameters())
    optimizer = Lamb([{"params": [p for n, p in named if decays(n)], "weight_decay": opts.weight_decay},
                      {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0, "trust_ratio": False}],
                     lr=opts.learning_rate, eps=opts.adam_epsilon)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, opts.warmup_steps, run.total_steps)
    out = {term: [] for term in TERMS}
    for k in range(run.total_steps):
        (batch,), _ = run.batches.step(k)
        optimizer.zero_grad()
        native = {n: torch.as_tensor(v) for n, v in batch.items()}
        result = model(**native)
        mlm = F.cross_entropy(result.prediction_logits.reshape(-1, 30000), native["labels"].reshape(-1))
        sop = F.cross_entropy(result.sop_logits, native["sentence_order_label"])
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), opts.max_grad_norm)
        optimizer.step()
        schedule.step()
        for term, value in zip(TERMS, (result.loss, mlm, sop)):
            out[term].append(float(value.detach()))
    return {term: np.array(v) for term, v in out.items()}


def test_pretraining_steps_agree_across_backends_and_with_hf(pretraining):
    """Per step, `loss`, `mlm_loss` and `sop_loss` of torch, jax and tensorflow within 1e-4 (relative) of each other
    and within 1e-5 of HF's class on the same batches with the same optimizer."""
    want = pretraining["hf"]
    assert len(want["loss"]) == STEPS and want["mlm_loss"][-1] < want["mlm_loss"][0]  # the steps learn something
    for backend in ("torch", "jax", "tensorflow"):
        for term in TERMS:
            got = pretraining[backend][term]
            assert got.shape == (STEPS,), (backend, term, got.shape)
            np.testing.assert_allclose(got, want[term], rtol=1e-5, err_msg=f"{backend} {term} vs HF")
            np.testing.assert_allclose(got, pretraining["torch"][term], rtol=1e-4, err_msg=f"{backend} {term}")
    np.testing.assert_allclose(want["mlm_loss"] + want["sop_loss"], want["loss"], rtol=1e-6)


def test_a_pretraining_checkpoint_resumes_on_another_backend(pretraining):
    """Steps 6-10 resumed from another backend's step-5 checkpoint equal the uninterrupted run's (1e-5)."""
    for source, target in RESUMES:
        got = pretraining[f"{source}-to-{target}"]
        for term in TERMS:
            assert got[term].shape == (STEPS - RESUME_AT,), (source, target, term)
            np.testing.assert_allclose(got[term], pretraining[source][term][RESUME_AT:], rtol=1e-5,
                                       err_msg=f"{source} -> {target}: {term}")


def test_the_pretrained_folder_loads_in_hf_and_every_backend(pretraining):
    """The run's output is an HF `AlbertForPreTraining` folder with its spiece.model: HF loads it with no missing
    weight and gives the logits every backend gives."""
    import torch

    import albert_core

    folder = pretraining["root"] / "jax"
    assert (folder / "spiece.model").read_bytes() == SPIECE_MODEL.read_bytes()
    model, info = transformers.AlbertForPreTraining.from_pretrained(folder, output_loading_info=True,
                                                                    attn_implementation="eager")
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    ids = AlbertTokenizer.from_pretrained(folder)(["The module returns a list of paths."])["input_ids"]
    with torch.no_grad():
        want = model.eval()(input_ids=torch.as_tensor(ids)).prediction_logits.numpy()
    for backend in ("torch", "jax", "tensorflow"):
        ours = albert_core.load(folder, backend=backend, task="pretraining")
        got = np.asarray(ours.ops.to_numpy(ours(input_ids=ids)["prediction_logits"]))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=backend)
