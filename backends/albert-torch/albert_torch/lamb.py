"""LAMB (You et al., "Large Batch Optimization for Deep Learning") for PyTorch, which has none: `optax.lamb`'s
update, so a run resumes across backends and matches JAX step for step (tested against optax in the parity
session). The state per parameter is `step`, `exp_avg` and `exp_avg_sq`, as `torch.optim.AdamW` keeps it. A
parameter group with `trust_ratio=False` skips the layer adaptation (r = 1), as Google's ALBERT LAMB does for
biases and LayerNorm weights."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class Lamb(torch.optim.Optimizer):
    """Per parameter p with gradient g at step t: Adam's bias-corrected moments give u = m^ / (sqrt(v^) + eps),
    plus `weight_decay * p`; then p -= lr * r * u with the trust ratio r = ||p|| / ||u|| (1 where either is 0)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, trust_ratio: bool = True) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "trust_ratio": trust_ratio})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
                update = (m / (1.0 - beta1 ** t)) / ((v / (1.0 - beta2 ** t)).sqrt_() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                if not group["trust_ratio"]:
                    p.sub_(update, alpha=group["lr"])
                    continue
                p_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
                trust = torch.where((p_norm > 0) & (u_norm > 0), p_norm / u_norm, torch.ones_like(p_norm))
                p.sub_(update * (trust * group["lr"]))
        return loss
