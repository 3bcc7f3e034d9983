"""Pretraining: the backend's `TrainStep` with LAMB (`OptimizerOptions(optimizer="lamb")`) against LAMB in NumPy
float64 (`albert_conformance.training_cases.OptimizerReference`, `optax.lamb`'s form), and the loss terms a
pretraining step reports (`albert_core.model.loss_terms`) against the NumPy reference model's. Runs for the
backends that declare `supports_training`, like the fine-tuning tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import albert_core
from albert_conformance.compare import assert_close
from albert_conformance.training_cases import (
    EPSILON,
    PEAK_LR,
    SEQUENCE_CLASSIFICATION,
    TRAINING_TOLERANCES,
    WEIGHT_DECAY,
    OptimizerReference,
    float64_params,
    float64_state,
    load_trainable,
    make_batch,
    training_config,
    training_weights,
    used_bound,
)
from albert_core import AlbertConfig, Checkpoint
from albert_core.model import loss_terms
from albert_core.tasks import PRETRAINING
from albert_core.training.schedule import LinearSchedule
from albert_core.training.step import OptimizerOptions, decays

TOL = TRAINING_TOLERANCES
LAMB = OptimizerOptions(LinearSchedule(PEAK_LR, warmup_steps=0, total_steps=6), weight_decay=WEIGHT_DECAY,
                        adam_epsilon=EPSILON, max_grad_norm=1.0, optimizer="lamb")


def test_lamb_step_matches_numpy_reference(albert_backend: Any, training_backend: str) -> None:
    """Three LAMB steps (bias corrections t = 1, 2, 3, clipping active) from the backend's own `loss_and_grads`
    gradients: the parameters (trust ratio, decay inside it, bias correction) and both moments."""
    config = training_config(SEQUENCE_CLASSIFICATION)
    batch = make_batch(config, SEQUENCE_CLASSIFICATION, 1, [8, 6, 5, 3])
    model = load_trainable(training_backend, config, SEQUENCE_CLASSIFICATION,
                           training_weights(config, SEQUENCE_CLASSIFICATION))
    step, reference = albert_backend.train_step(model, LAMB), OptimizerReference(LAMB)
    used = 0.0
    for t in range(3):
        params = float64_params(model)
        loss, grads = albert_backend.loss_and_grads(model, batch)
        want, norm, lr, _ = reference.step(params, grads)
        result = step.step([batch], [1.0], [17 + t])
        assert_close(result.learning_rate, lr, TOL["learning_rate"], f"LAMB step {t}: learning rate")
        assert_close(result.grad_norm, norm, TOL["step_report"], f"LAMB step {t}: gradient norm")
        got = float64_params(model)
        for name in sorted(want):
            assert_close(got[name], want[name], TOL["lamb_params"], f"LAMB step {t}: {name}")
            used = max(used, used_bound(got[name], want[name], TOL["lamb_params"]))
            if decays(name):  # every weight has a gradient; some biases (attention's key bias) have none
                assert abs(got[name] - params[name]).max() > 0, f"LAMB step {t} did not move {name}"
        state, expected = float64_state(step.optimizer_state()), reference.state()
        for key in sorted(expected):
            assert_close(state[key], expected[key], TOL[key.split(".", 1)[0]], f"LAMB step {t}: {key}")
    print(f"LAMB vs NumPy reference, worst fraction of the bound used: {used:.3f}")


def test_a_pretraining_step_reports_its_loss_terms(albert_backend: Any, training_backend: str) -> None:
    """`StepResult.metrics` of a pretraining step (dropout 0) equals `loss_terms` of the float64 NumPy model on
    the weights before the step: `mlm_loss` + `sop_loss` = `loss`, and both accuracies."""
    config = training_config(PRETRAINING)
    weights = training_weights(config, PRETRAINING)
    batch = make_batch(config, PRETRAINING, 2, [8, 6, 5, 3], labelled=[3, 2, 2, 1])
    reference = albert_core.load(Checkpoint(config, weights), task=PRETRAINING, dtype="float64")
    out = reference(**batch)
    want = {k: float(v) for k, v in loss_terms(reference.ops, config, PRETRAINING, out, **batch).items()}
    assert set(want) == {"mlm_loss", "sop_loss", "mlm_accuracy", "sop_accuracy"}
    step = albert_backend.train_step(load_trainable(training_backend, config, PRETRAINING, weights), LAMB)
    result = step.step([batch], [1.0], [3])
    assert set(result.metrics) == set(want), f"the step reported {sorted(result.metrics)}"
    for name, value in want.items():
        assert_close(result.metrics[name], value, TOL["step_report"], f"pretraining step: {name}")
    assert_close(result.loss, want["mlm_loss"] + want["sop_loss"], TOL["step_report"], "loss = mlm_loss + sop_loss")
    assert_close(result.loss, float(out["loss"]), TOL["step_report"], "the step's loss vs the reference's")


LEARNING_STEPS = 300


def test_pretraining_learns_real_text(training_backend: str, tmp_path: Path) -> None:
    """From raw text to a learning run, small: a 500-piece vocabulary trained on the sample corpus (the standard
    library's docstrings), pretraining data from 40 of its documents (about 75 instances of 64 tokens), and 300
    LAMB steps of a small ALBERT on them. The masked tokens' accuracy on the training batches must end at least
    0.1 above the unigram-frequency baseline (always the most frequent masked token): the model learns the text
    through both losses' gradients. (Measured, 300 steps: torch 0.85 and JAX 0.83 against 0.12. How much a longer run
    generalises to held-out text is `python -m benchmarks.pretrain_learning`, recorded in docs/pretraining.md.)"""
    from albert_core.pretraining.builder import DataOptions, build_pretraining_data
    from albert_core.pretraining.sample_corpus import write_sample_corpus
    from albert_core.pretraining.shards import iter_shards, read_manifest
    from albert_core.pretraining.trainer import pretrain
    from albert_core.pretraining.vocab import train_vocab

    vocab = train_vocab(write_sample_corpus(tmp_path / "corpus.txt"), vocab_size=500, output_dir=tmp_path / "vocab")
    build_pretraining_data(write_sample_corpus(tmp_path / "small.txt", max_documents=40), tokenizer=vocab.parent,
                           output_dir=tmp_path / "data", workers=1,
                           options=DataOptions(max_seq_length=64, dupe_factor=1))
    manifest = read_manifest(tmp_path / "data")
    counts = np.bincount(np.concatenate([s["masked_ids"] for s in iter_shards(tmp_path / "data", manifest)]))
    unigram = counts.max() / counts.sum()
    AlbertConfig(vocab_size=500, embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128, max_position_embeddings=64, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0).to_json_file(tmp_path / "config.json")
    result = pretrain(train=str(tmp_path / "data"), model=str(tmp_path / "config.json"),
                      output_dir=str(tmp_path / "run"), backend=training_backend, max_steps=LEARNING_STEPS,
                      per_device_train_batch_size=16, learning_rate=2e-2, warmup_ratio=0.05, logging_steps=25,
                      save_steps=None, plot=False, progress=False)
    log = [r for r in result.log if "mlm_accuracy" in r]
    curve = [(r["step"], round(r["mlm_loss"], 3), round(r["mlm_accuracy"], 3)) for r in log]
    print(f"unigram baseline {unigram:.3f} on {manifest['instances']} instances; (step, mlm_loss, mlm_accuracy): "
          f"{curve}")
    assert log[-1]["mlm_accuracy"] >= unigram + 0.1, (
        f"after {LEARNING_STEPS} steps the masked-token accuracy is {log[-1]['mlm_accuracy']:.3f}, not clearly above "
        f"the unigram-frequency baseline {unigram:.3f}; (step, mlm_loss, mlm_accuracy): {curve}")
    assert log[-1]["mlm_loss"] < log[0]["mlm_loss"] - 1.0
