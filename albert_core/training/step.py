"""The one piece a backend writes to be trained: `TrainStep`, returned by `Backend.train_step(model, options)`.

Everything else (data, batching, the schedule's values, evaluation, metrics, logging, checkpoints) is the core's.
A step receives host NumPy batches that already passed the core's input checks, and runs the framework's loss,
gradients and optimizer update, compiled where the framework compiles. Its contract:

- `options.optimizer` "adamw": AdamW as `torch.optim.AdamW` defines it (decoupled weight decay, bias-corrected
  moments); "lamb": LAMB, per parameter tensor p with bias-corrected moments m^ and v^ (`optax.lamb`'s form):
  u = m^ / (sqrt(v^) + eps) + weight_decay * p, then p -= lr * r * u with the trust ratio r = ||p|| / ||u||
  (1 where either norm is 0). Weight decay, and LAMB's trust ratio, only on the parameters `decays(name)` says
  (never biases or LayerNorm weights: Google's ALBERT LAMB excludes them from layer adaptation, where
  `optax.lamb` adapts every tensor; a bias whose gradient is only rounding noise, like attention's key bias,
  would otherwise take steps of lr * ||p|| in the noise's direction). Both keep the moments under the same names;
- the learning rate of optimizer step `t` (0-based) is `options.schedule.learning_rate(t)`;
- one step takes several micro-batches (gradient accumulation) with weights that sum to 1: the step's loss and
  gradient are the weighted sums of the micro-batches' mean losses and gradients, so accumulating k micro-batches
  equals one batch of all their rows;
- the global gradient norm (before clipping) is reported, and gradients are clipped to `max_grad_norm` when set;
- the step also reports `albert_core.model.loss_terms` of each micro-batch's training-mode output (for
  pretraining: `mlm_loss`, `sop_loss`, `mlm_accuracy`, `sop_accuracy`), weighted like the loss, as host floats;
- `bf16`: the forward and backward run in bfloat16 on bfloat16 copies of the float32 master weights, whose
  gradients, optimizer moments and updates stay float32;
- optimizer moments travel between backends as float32 host arrays under the parameters' HF names, in HF's layout
  (`optimizer_state` / `load_optimizer_state`), so a run resumes on any backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .schedule import LinearSchedule

OPTIMIZERS = ("adamw", "lamb")


def check_optimizer(name: Any) -> None:
    if name not in OPTIMIZERS:
        raise ConfigError(f"--optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}; pass one of them")


def decays(name: str) -> bool:
    """Whether AdamW decays parameter `name`: not biases, not LayerNorm weights (HF Trainer's rule)."""
    return not (name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name)


@dataclass(frozen=True)
class OptimizerOptions:
    """What a backend's step needs to know; HF Trainer's defaults."""

    schedule: LinearSchedule
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = 1.0
    bf16: bool = False
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"

    def __post_init__(self) -> None:
        check_optimizer(self.optimizer)


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step reports: the weighted loss, the global gradient norm before clipping, the learning
    rate the update used, and the weighted `loss_terms` (empty for the fine-tuning tasks)."""

    loss: float
    grad_norm: float
    learning_rate: float
    metrics: dict[str, float] = field(default_factory=dict)


def add_weighted(total: dict[str, float], terms: dict[str, Any], weight: float) -> None:
    """`total[name] += weight * terms[name]` for a micro-batch's `loss_terms` (0-d tensors of any framework)."""
    for name, value in terms.items():
        total[name] = total.get(name, 0.0) + weight * float(value)


MOMENT_KEYS = ("exp_avg", "exp_avg_sq")  # torch.optim.AdamW's names for the first and second moments


def moment_key(moment: str, name: str) -> str:
    """The key of parameter `name`'s moment in an optimizer-state file: `exp_avg.albert.embeddings...`."""
    return f"{moment}.{name}"


class TrainStep:
    """Base class of a backend's optimizer step; see the module docstring for the contract.

    `model` is the backend's loaded model (loaded with `trainable=True`), updated in place (or, for functional
    frameworks, its parameters replaced after every step) so that `model(...)` always runs the current weights.
    """

    def __init__(self, model: Any, options: OptimizerOptions) -> None:
        self.model, self.options = model, options

    def step(self, micro_batches: Sequence[dict[str, np.ndarray]], weights: Sequence[float],
             dropout_seeds: Sequence[int]) -> StepResult:
        """One optimizer update from `micro_batches` (validated host inputs with the task's labels), weighted by
        `weights` (summing to 1); `dropout_seeds[i]` seeds micro-batch i's dropout (ignored when dropout is 0)."""
        raise NotImplementedError

    def evaluate(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eval-mode outputs (dropout off; `loss` when the batch has labels) as host arrays."""
        out = self.model(**batch)
        ops = self.model.ops
        return {k: np.asarray(ops.to_numpy(v)) for k, v in out.items() if not isinstance(v, tuple)}

    @property
    def steps_taken(self) -> int:
        """Optimizer updates applied so far (resumed steps included): the `t` of the next update's bias correction."""
        raise NotImplementedError

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The AdamW moments as float32 host arrays in HF's layout, keyed by `moment_key(moment, hf_name)` for
        every moment in `MOMENT_KEYS` and every parameter."""
        raise NotImplementedError

    def load_optimizer_state(self, steps_taken: int, state: dict[str, np.ndarray]) -> None:
        """Continue from a saved state: `steps_taken` updates done, moments as `optimizer_state` gives them."""
        raise NotImplementedError
