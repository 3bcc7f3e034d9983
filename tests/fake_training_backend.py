"""A training backend for the core tests, which have no framework: the NumPy model with a fake optimizer step.

`FakeStep` keeps the `TrainStep` contract's bookkeeping (steps taken, moments under HF names, the schedule's
learning rate) and nudges the parameters deterministically, so runs can be compared bit for bit: an uninterrupted
run and one stopped and resumed end with the same weights only if the resumed one loaded the checkpoint's weights,
its moments and its step, and saw the same batches. Its loss is the model's real eval-mode loss on the batch (so
every batch must be a valid labelled input). What it does is steered by `SETTINGS` and recorded in `CALLS`.

`install()` registers it as backend `fake-train` through the plugin manager, as an installed plugin would be; a
subprocess that imports this module (with tests/ on sys.path) and calls `install()` gets the same backend.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

import albert_core
from albert_core.numpy_backend import NumpyBackend
from albert_core.plugins import manager
from albert_core.training.step import MOMENT_KEYS, StepResult, TrainStep, moment_key

NAME = "fake-train"
# nan_at: the 1-based optimizer step whose loss is NaN; state_delay: seconds `optimizer_state` takes;
# saving_marker: a file `optimizer_state` creates (with the step in it) before its delay, so a test knows a
# checkpoint write has begun; eval_losses: the loss each evaluation batch reports, in turn (None: the real one).
DEFAULTS: dict[str, Any] = {"nan_at": None, "state_delay": 0.0, "saving_marker": None, "eval_losses": None}
SETTINGS: dict[str, Any] = dict(DEFAULTS)
CALLS: dict[str, list] = {"train_step": [], "step": []}


def reset() -> None:
    SETTINGS.clear()
    SETTINGS.update(DEFAULTS, eval_losses=None)
    for calls in CALLS.values():
        calls.clear()


def digest(batches: list[dict[str, np.ndarray]]) -> str:
    """A fingerprint of micro-batches (names, shapes, dtypes and values), to compare what two runs saw."""
    h = hashlib.sha256()
    for batch in batches:
        for key in sorted(batch):
            value = np.ascontiguousarray(batch[key])
            h.update(f"{key}{value.shape}{value.dtype}".encode())
            h.update(value.tobytes())
    return h.hexdigest()[:16]


class FakeStep(TrainStep):
    def __init__(self, model: Any, options: Any) -> None:
        super().__init__(model, options)
        self._steps = 0
        self.moments = {moment_key(m, n): np.zeros(np.shape(p), np.float32)
                        for n, p in model.params.items() for m in MOMENT_KEYS}

    def step(self, micro_batches, weights, dropout_seeds) -> StepResult:
        t = self._steps
        lr = self.options.schedule.learning_rate(t)
        CALLS["step"].append({"t": t, "digest": digest(list(micro_batches)), "weights": list(weights),
                              "seeds": list(dropout_seeds), "count": len(micro_batches)})
        loss = sum(w * float(self.model.ops.to_numpy(self.model(**b)["loss"])) for b, w in zip(micro_batches, weights))
        for name, p in list(self.model.params.items()):  # "gradient" = the parameter itself, AdamW-free
            m1, m2 = moment_key("exp_avg", name), moment_key("exp_avg_sq", name)
            self.moments[m1] = (0.9 * self.moments[m1] + 0.1 * p).astype(np.float32)
            self.moments[m2] = (0.99 * self.moments[m2] + 0.01 * p * p).astype(np.float32)
            self.model.params[name] = (p - 100 * lr * self.moments[m1]).astype(np.float32)
        self._steps += 1
        if SETTINGS["nan_at"] == self._steps:
            loss = float("nan")
        return StepResult(float(loss), 1.0 + t, lr)

    def evaluate(self, batch):
        out = super().evaluate(batch)
        if SETTINGS["eval_losses"]:
            out["loss"] = np.float32(SETTINGS["eval_losses"].pop(0))
        return out

    @property
    def steps_taken(self) -> int:
        return self._steps

    def optimizer_state(self) -> dict[str, np.ndarray]:
        marker = SETTINGS["saving_marker"]
        if marker:
            Path(marker).write_text(str(self._steps))
        time.sleep(SETTINGS["state_delay"])
        return {k: v.copy() for k, v in self.moments.items()}

    def load_optimizer_state(self, steps_taken: int, state: dict[str, np.ndarray]) -> None:
        assert set(state) == set(self.moments), sorted(set(state) ^ set(self.moments))
        self._steps = steps_taken
        self.moments = {k: np.asarray(v, np.float32) for k, v in state.items()}


class FakeBackend(NumpyBackend):
    name = NAME
    supports_training = True

    def train_step(self, model: Any, options: Any) -> FakeStep:
        CALLS["train_step"].append(options)
        return FakeStep(model, options)


class _Plugin:
    @albert_core.hookimpl
    def albert_core_register_backends(self, registry) -> None:
        registry.add(NAME, f"{__name__}:FakeBackend", distribution="albert-core tests")


def install() -> str:
    """Register the backend (once per process); returns its name."""
    if NAME not in manager.backends.names():
        manager.register(_Plugin(), name="albert-core-tests-fake-train")
    return NAME
