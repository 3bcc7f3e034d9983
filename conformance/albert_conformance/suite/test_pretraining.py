"""Pretraining: the backend's `TrainStep` with LAMB (`OptimizerOptions(optimizer="lamb")`) against LAMB in NumPy
float64 (`albert_conformance.training_cases.OptimizerReference`, `optax.lamb`'s form), and the loss terms a
pretraining step reports (`albert_core.model.loss_terms`) against the NumPy reference model's. Runs for the
backends that declare `supports_training`, like the fine-tuning tests."""

from __future__ import annotations

from typing import Any

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
from albert_core import Checkpoint
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
