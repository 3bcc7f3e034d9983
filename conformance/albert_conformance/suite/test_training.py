"""Fine-tuning: the backend's `TrainStep` (`Backend.train_step`, contract in `albert_core/training/step.py`) against
AdamW in NumPy float64 and against itself, and the core's loop (`albert_core.finetune`) run on the backend.

Only backends that declare `supports_training` run these (the `training_backend` parametrisation is empty for the
others, as for the gradient tests); every backend runs `test_train_step_declaration_holds`. Tolerances and their
error models: `albert_conformance.training_cases.TRAINING_TOLERANCES`. Each test prints how much of its bound the
worst element used (`pytest -rP` shows it).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import albert_core
from albert_conformance.compare import assert_close, assert_equal
from albert_conformance.training_cases import (
    DROPOUT,
    EPSILON,
    MASKED_LM,
    PEAK_LR,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    TRAINING_TOLERANCES,
    WEIGHT_DECAY,
    OptimizerReference,
    bf16_representable,
    check_state_format,
    compare_params,
    float64_params,
    float64_state,
    load_trainable,
    make_batch,
    rows_of,
    training_config,
    training_weights,
    used_bound,
)
from albert_core import AlbertConfig
from albert_core.training.batches import loss_items
from albert_core.training.schedule import LinearSchedule
from albert_core.training.step import OptimizerOptions, StepResult, TrainStep

TOL = TRAINING_TOLERANCES
SEQ = SEQUENCE_CLASSIFICATION
# One run of 12 steps serves the AdamW, schedule and optimizer-state tests: warmup 3 (learning rates 0, p/3, 2p/3,
# then down to p/9 at step 11), weight decay, and clipping at HF's default norm 1 (the tiny model's gradient norm
# is ~1.7, so the clipping is active).
SCHEDULE = LinearSchedule(PEAK_LR, warmup_steps=3, total_steps=12)
OPTIONS = OptimizerOptions(SCHEDULE, weight_decay=WEIGHT_DECAY, adam_epsilon=EPSILON, max_grad_norm=1.0)
CHECKED_STEPS = 3  # steps checked against the reference: bias corrections t = 1, 2, 3
RESUMED_AT = 3  # the optimizer-state round trip continues the run from here ...
RESUMED_STEPS = 3  # ... for this many steps
SEED = 17  # dropout seed of step t: SEED + t (no dropout here; the trainer always passes seeds)


@dataclass
class Trajectory:
    """What one backend run of `OPTIONS` on a fixed batch recorded (float64 copies of the host arrays)."""

    config: AlbertConfig
    weights: dict[str, np.ndarray]
    batch: dict[str, np.ndarray]
    results: list[StepResult] = field(default_factory=list)
    steps_taken: list[int] = field(default_factory=list)  # after each step
    params: list[dict[str, np.ndarray]] = field(default_factory=list)  # before step t, t = 0..CHECKED_STEPS
    grads: list[tuple[float, dict[str, np.ndarray]]] = field(default_factory=list)  # loss_and_grads before step t
    states: list[dict[str, np.ndarray]] = field(default_factory=list)  # optimizer_state() after step t
    saved: Path | None = None  # albert_core.save of the model after RESUMED_AT steps
    state_at_resume: dict[str, np.ndarray] = field(default_factory=dict)  # optimizer_state() then, as returned
    params_after_resumed: dict[str, np.ndarray] = field(default_factory=dict)  # after RESUMED_AT + RESUMED_STEPS


@pytest.fixture(scope="module")
def trajectory(albert_backend: Any, training_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Trajectory:
    config = training_config(SEQ)
    weights = training_weights(config, SEQ)
    run = Trajectory(config, weights, make_batch(config, SEQ, 1, [8, 6, 5, 3]))
    model = load_trainable(training_backend, config, SEQ, weights)
    step = albert_backend.train_step(model, OPTIONS)
    for t in range(SCHEDULE.total_steps):
        if t <= CHECKED_STEPS:
            run.params.append(float64_params(model))
        if t < CHECKED_STEPS:
            unchanged = t > 0 and all(np.array_equal(run.params[t][n], run.params[t - 1][n]) for n in run.params[t])
            # After the learning-rate-0 step the weights are the same, so their gradient is too (saves a compile).
            run.grads.append(run.grads[-1] if unchanged else albert_backend.loss_and_grads(model, run.batch))
        if t == RESUMED_AT:
            run.saved = albert_core.save(model, tmp_path_factory.mktemp("trajectory") / f"after-{t}")
            run.state_at_resume = {k: np.array(v) for k, v in step.optimizer_state().items()}
        run.results.append(step.step([run.batch], [1.0], [SEED + t]))
        run.steps_taken.append(step.steps_taken)
        if t < CHECKED_STEPS:
            run.states.append(float64_state(step.optimizer_state()))
        if t + 1 == RESUMED_AT + RESUMED_STEPS:
            run.params_after_resumed = float64_params(model)
    return run


def _compare_moments(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], what: str) -> float:
    assert set(actual) == set(expected), f"{what}: optimizer-state keys {sorted(set(actual) ^ set(expected))} differ"
    used = 0.0
    for key in sorted(expected):
        tol = TOL[key.split(".", 1)[0]]
        assert_close(actual[key], expected[key], tol, f"{what}: {key}")
        used = max(used, used_bound(actual[key], expected[key], tol))
    return used


@dataclass
class Baseline:
    """A run to compare with: results per step, then the weights and moments at the end (float64)."""

    results: list[StepResult]
    params: dict[str, np.ndarray]
    state: dict[str, np.ndarray]


def _trajectory_baseline(run: Trajectory, steps: int) -> Baseline:
    return Baseline(run.results[:steps], run.params[steps], run.states[steps - 1])


def _compare_runs(got: Baseline, want: Baseline, tol: Any, what: str) -> float:
    """Losses and norms per step and learning rates, then the weights (all within `tol`) and the moments (within
    their own bounds, which are tighter than `tol` for them); the worst fraction of a bound used."""
    used = 0.0
    for t, (b, a) in enumerate(zip(got.results, want.results)):
        for field_name in ("loss", "grad_norm"):
            assert_close(getattr(b, field_name), getattr(a, field_name), tol, f"{what}, step {t}: {field_name}")
            used = max(used, used_bound(getattr(b, field_name), getattr(a, field_name), tol))
        assert_close(b.learning_rate, a.learning_rate, TOL["learning_rate"], f"{what}, step {t}: learning rate")
    used = max(used, compare_params(got.params, want.params, tol, f"{what}: weights after {len(got.results)} steps"))
    return max(used, _compare_moments(got.state, want.state, f"{what}: moments after {len(got.results)} steps"))


def _run(step: TrainStep, batches: list[dict[str, np.ndarray]], weights: list[float], steps: int,
         seeds: int = SEED) -> Baseline:
    results = [step.step(batches, weights, [seeds + 100 * i + t for i in range(len(batches))]) for t in range(steps)]
    return Baseline(results, float64_params(step.model), float64_state(step.optimizer_state()))


# --------------------------------------------------------------------------------------------------- the step
def test_adamw_step_matches_numpy_reference(trajectory: Trajectory) -> None:
    """Each of the first 3 steps (bias corrections t = 1, 2, 3; learning rates 0, p/3, 2p/3) against AdamW in
    float64 from the same parameters with the backend's `loss_and_grads` gradient: the parameters, both moments
    (so the clipping, which AdamW's first update nearly hides, shows), the reported loss, norm and rate."""
    run, reference = trajectory, OptimizerReference(OPTIONS)
    used: dict[str, float] = collections.defaultdict(float)
    clipped = []
    for t in range(CHECKED_STEPS):
        loss, grads = run.grads[t]
        want, norm, lr, was_clipped = reference.step(run.params[t], grads)
        clipped.append(was_clipped)
        where = f"step {t} (learning rate {lr:g}, bias correction t={t + 1})"
        result = run.results[t]
        assert_close(result.loss, loss, TOL["step_report"], f"{where}: loss vs loss_and_grads")
        assert_close(result.grad_norm, norm, TOL["step_report"], f"{where}: gradient norm before clipping")
        assert_close(result.learning_rate, lr, TOL["learning_rate"], f"{where}: learning rate")
        if lr == 0.0:
            for name in want:
                assert_equal(run.params[t + 1][name], run.params[t][name],
                             f"{where}: a step at learning rate 0 moved (or decayed) {name}")
        used["params"] = max(used["params"], compare_params(run.params[t + 1], want, TOL["adamw_params"], where))
        used["moments"] = max(used["moments"], _compare_moments(run.states[t], reference.state(), where))
        used["report"] = max(used["report"], used_bound(result.loss, loss, TOL["step_report"]),
                             used_bound(result.grad_norm, norm, TOL["step_report"]))
    assert any(clipped), "the case should clip its gradients (norm > max_grad_norm) at least once"
    print(f"AdamW vs NumPy reference, worst fraction of the bound used: {dict(used)}; clipped per step: {clipped}")


def test_learning_rate_follows_the_schedule(trajectory: Trajectory) -> None:
    used = 0.0
    for t, result in enumerate(trajectory.results):
        want = SCHEDULE.learning_rate(t)
        assert_close(result.learning_rate, want, TOL["learning_rate"],
                     f"step {t} of {SCHEDULE}: StepResult.learning_rate vs schedule.learning_rate({t})")
        used = max(used, used_bound(result.learning_rate, want, TOL["learning_rate"]))
    assert trajectory.steps_taken == list(range(1, SCHEDULE.total_steps + 1)), (
        f"steps_taken after each step: {trajectory.steps_taken}")
    print(f"learning rates, worst fraction of the bound used: {used:.3g}")


def test_optimizer_state_round_trips(albert_backend: Any, training_backend: str, trajectory: Trajectory) -> None:
    """After 3 steps: the state's keys, dtypes and shapes; then a fresh model loaded from the saved weights and a
    fresh step given the state continue exactly as the original run did (learning rates included)."""
    run = trajectory
    state = run.state_at_resume
    check_state_format(state, run.config, SEQ, f"after {RESUMED_AT} steps")
    fresh = albert_core.load(run.saved, backend=training_backend, task=SEQ, trainable=True)
    for name, value in float64_params(fresh).items():
        assert_equal(value, run.params[RESUMED_AT][name], f"weights saved after {RESUMED_AT} steps and loaded: {name}")
    step = albert_backend.train_step(fresh, OPTIONS)
    step.load_optimizer_state(RESUMED_AT, {k: v.copy() for k, v in state.items()})
    assert step.steps_taken == RESUMED_AT, f"steps_taken after load_optimizer_state({RESUMED_AT}, ...) is " \
                                           f"{step.steps_taken}"
    reloaded = step.optimizer_state()
    for key in sorted(state):
        assert_equal(reloaded[key], state[key], f"optimizer_state() right after load_optimizer_state: {key}")
    tol, used = TOL["same_computation"], 0.0
    for t in range(RESUMED_AT, RESUMED_AT + RESUMED_STEPS):
        got, want = step.step([run.batch], [1.0], [SEED + t]), run.results[t]
        for what in ("loss", "grad_norm", "learning_rate"):
            assert_close(getattr(got, what), getattr(want, what), tol, f"resumed step {t}: {what} vs the original run")
            used = max(used, used_bound(getattr(got, what), getattr(want, what), tol))
    assert step.steps_taken == RESUMED_AT + RESUMED_STEPS, f"steps_taken after {RESUMED_STEPS} more steps is " \
                                                           f"{step.steps_taken}"
    used = max(used, compare_params(float64_params(fresh), run.params_after_resumed, tol,
                                     f"weights after resuming at {RESUMED_AT} and {RESUMED_STEPS} more steps"))
    print(f"resumed vs original, worst fraction of the bound used: {used:.3g}")


def test_bf16_steps_track_float32(albert_backend: Any, bf16_training_backend: str, trajectory: Trajectory) -> None:
    """bf16 compute on float32 masters: finite losses near float32's, masters and moments still float32."""
    run = trajectory
    model = load_trainable(bf16_training_backend, run.config, SEQ, run.weights)
    step = albert_backend.train_step(model, dataclasses.replace(OPTIONS, bf16=True))
    results = [step.step([run.batch], [1.0], [SEED + t]) for t in range(CHECKED_STEPS)]
    tol, used = TOL["bf16_vs_float32"], 0.0
    for t, (low, full) in enumerate(zip(results, run.results)):
        assert math.isfinite(low.loss) and math.isfinite(low.grad_norm), f"bf16 step {t}: {low}"
        assert_close(low.loss, full.loss, tol, f"bf16 step {t}: loss vs float32")
        assert_close(low.grad_norm, full.grad_norm, tol, f"bf16 step {t}: gradient norm vs float32")
        used = max(used, used_bound(low.loss, full.loss, tol), used_bound(low.grad_norm, full.grad_norm, tol))
    assert model.dtype == "float32", f"a bf16 step changed the model's dtype to {model.dtype!r}; masters stay float32"
    for name, value in model.numpy_params().items():
        assert value.dtype == np.float32, f"bf16 training: parameter {name} is {value.dtype}"
        assert not bf16_representable(value), (f"bf16 training: every value of {name} fits bfloat16, so the master "
                                               "weights were rounded to bfloat16; they must stay float32")
    state = step.optimizer_state()
    check_state_format(state, run.config, SEQ, "bf16 training")
    for moment in ("exp_avg", "exp_avg_sq"):
        values = np.concatenate([np.ravel(v) for k, v in state.items() if k.startswith(moment + ".")])
        assert not bf16_representable(values), f"bf16 training: every {moment} value fits bfloat16; moments must " \
                                               "be kept in float32"
    print(f"bf16 vs float32 losses {[round(r.loss, 5) for r in results]} vs "
          f"{[round(r.loss, 5) for r in run.results[:CHECKED_STEPS]]}; worst fraction of the bound used {used:.3g}")


# Per task: the batch's row lengths, labelled tokens per row (per-token tasks), and where the second micro-batch
# starts. Sequence classification splits 3 + 1 rows (weights 3/4 and 1/4, like an epoch's short last micro-batch);
# the per-token tasks split 2 + 2 rows holding unequal numbers of labelled tokens (token classification 7 and 3,
# masked LM 5 and 2), so weighting equally, by rows, or not at all is caught. Sequence classification is compared
# with the module's shared run (its batch, 3 steps of `OPTIONS`: clipped), the others with one batch under
# `TWO_STEPS` (unclipped).
ACCUMULATION_CASES = {
    SEQ: dict(lengths=[8, 6, 5, 3], labelled=None, split=3),
    TOKEN_CLASSIFICATION: dict(lengths=[8, 7, 6, 4], labelled=[6, 1, 2, 1], split=2),
    MASKED_LM: dict(lengths=[9, 7, 5, 6], labelled=[3, 2, 1, 1], split=2),
}
TWO_STEPS = OptimizerOptions(LinearSchedule(PEAK_LR, 0, 2), weight_decay=WEIGHT_DECAY, adam_epsilon=EPSILON,
                             max_grad_norm=None)


@pytest.mark.parametrize("task", list(ACCUMULATION_CASES))
def test_accumulation_equals_one_batch(albert_backend: Any, training_backend: str, trajectory: Trajectory,
                                       task: str) -> None:
    """Two micro-batches weighted by their shares of the loss terms (`loss_items`) equal one batch of all rows."""
    case = ACCUMULATION_CASES[task]
    if task == SEQ:
        config, weights, full = trajectory.config, trajectory.weights, trajectory.batch
        options, steps = OPTIONS, CHECKED_STEPS
    else:
        config = training_config(task)
        weights = training_weights(config, task)
        full = make_batch(config, task, 2, case["lengths"], case["labelled"])
        options, steps = TWO_STEPS, 2
    micro = [rows_of(full, slice(0, case["split"])), rows_of(full, slice(case["split"], None))]
    counts = [loss_items(m, task) for m in micro]
    shares = [c / sum(counts) for c in counts]
    assert sum(counts) == loss_items(full, task)
    if task == SEQ:
        one = _trajectory_baseline(trajectory, steps)
    else:
        one = _run(albert_backend.train_step(load_trainable(training_backend, config, task, weights), options),
                   [full], [1.0], steps)
    two = _run(albert_backend.train_step(load_trainable(training_backend, config, task, weights), options), micro,
               shares, steps)
    used = _compare_runs(two, one, TOL["reordered"], f"{task}: micro-batches of {counts} loss terms weighted "
                                                     f"{[round(s, 3) for s in shares]} vs one batch")
    print(f"{task}: accumulation vs one batch, worst fraction of the bound used {used:.3g}")


@pytest.mark.parametrize("dropout", [0.0, 0.1], ids=["no-dropout", "dropout"])
def test_gradient_checkpointing_changes_nothing(albert_backend: Any, training_backend: str, trajectory: Trajectory,
                                                dropout: float) -> None:
    """Recomputing each layer in the backward pass gives the same losses and updates; with dropout on, only if
    the recompute draws the same masks (the step's loss differing from the eval-mode loss shows dropout is on).
    Without dropout the module's shared run is the one without checkpointing."""
    recompute = dataclasses.replace(OPTIONS, gradient_checkpointing=True)
    if not dropout:
        run = trajectory
        step = albert_backend.train_step(load_trainable(training_backend, run.config, SEQ, run.weights), recompute)
        got = _run(step, [run.batch], [1.0], CHECKED_STEPS)
        used = _compare_runs(got, _trajectory_baseline(run, CHECKED_STEPS), TOL["same_computation"],
                             "gradient checkpointing vs not")
        print(f"gradient checkpointing (no dropout), worst fraction of the bound used {used:.3g}")
        return
    run = trajectory
    config = training_config(SEQ, **{k: dropout for k in DROPOUT})  # the same weights as the shared run's
    plain = albert_backend.train_step(load_trainable(training_backend, config, SEQ, run.weights), OPTIONS)
    want = _run(plain, [run.batch], [1.0], CHECKED_STEPS)
    eval_loss = run.grads[0][0]  # the shared run's eval-mode loss of these weights on this batch
    assert abs(want.results[0].loss - eval_loss) > 1e-4 * abs(eval_loss), (
        f"dropout {dropout}: the training step's loss {want.results[0].loss} equals the eval-mode loss {eval_loss}, "
        "so the step applies no dropout and this test proves nothing")
    step = albert_backend.train_step(load_trainable(training_backend, config, SEQ, run.weights), recompute)
    got = _run(step, [run.batch], [1.0], CHECKED_STEPS)
    used = _compare_runs(got, want, TOL["same_computation"], f"dropout {dropout}: gradient checkpointing vs not")
    print(f"gradient checkpointing (dropout {dropout}), worst fraction of the bound used {used:.3g}; step loss "
          f"{want.results[0].loss:.6f}, eval-mode loss {eval_loss:.6f}")
