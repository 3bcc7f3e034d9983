"""Pretraining against HF transformers: a vocabulary trained by `albert vocab` loads in HF's `AlbertTokenizer`
(the reference; its fast converter differs from it on this vocabulary as on the released one) with the same
ids as ours on real text."""

from __future__ import annotations

import numpy as np
import pytest
import transformers

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
