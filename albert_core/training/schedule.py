"""The learning-rate schedule: linear warmup from 0, then linear decay to 0 (HF's
`get_linear_schedule_with_warmup`). The core owns its values; each backend builds its framework's schedule from
the same three numbers, and the conformance tests check they agree step by step."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class LinearSchedule:
    """`learning_rate(t)` for optimizer step t = 0, 1, ...: `peak * t / warmup` while t < warmup, then
    `peak * (total - t) / (total - warmup)`, never below 0."""

    peak: float
    warmup_steps: int
    total_steps: int

    def __post_init__(self) -> None:
        if not (isinstance(self.peak, (int, float)) and math.isfinite(self.peak) and self.peak > 0):
            raise ConfigError(f"learning_rate must be a finite number > 0, got {self.peak!r}; HF's default is 5e-5")
        if self.total_steps < 1:
            raise ConfigError(f"the run has {self.total_steps} optimizer steps; give training data, "
                              "num_train_epochs > 0 or max_steps >= 1")
        if not 0 <= self.warmup_steps <= self.total_steps:
            raise ConfigError(f"warmup_steps={self.warmup_steps} must be in [0, {self.total_steps}] (the run's "
                              "optimizer steps); pass fewer warmup steps or a warmup_ratio in [0, 1]")

    def factor(self, step: int) -> float:
        """The multiplier of `peak` at `step` (torch's `LambdaLR` takes this function)."""
        if step < self.warmup_steps:
            return step / max(1, self.warmup_steps)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))

    def learning_rate(self, step: int) -> float:
        return self.peak * self.factor(step)


def warmup_steps_for(total_steps: int, warmup_steps: int, warmup_ratio: float) -> int:
    """HF's rule: `warmup_steps` when > 0, else `ceil(warmup_ratio * total_steps)`."""
    if warmup_steps:
        return warmup_steps
    return math.ceil(warmup_ratio * total_steps)
