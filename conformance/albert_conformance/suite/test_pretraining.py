"""Pretraining: the backend's `TrainStep` with LAMB (`OptimizerOptions(optimizer="lamb")`) against LAMB in NumPy
float64 (`albert_conformance.training_cases.OptimizerReference`, `optax.lamb`'s definition). Runs for the backends
that declare `supports_training`, like the fine-tuning tests."""

from __future__ import annotations

from typing import Any

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
