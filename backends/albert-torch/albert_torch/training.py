"""`TorchTrainStep`: the trainer's optimizer step on PyTorch (`torch.optim.AdamW`, or `Lamb`, with a `LambdaLR`
schedule); under torchrun, through `DistributedDataParallel`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from albert_core.model import forward, loss_terms
from albert_core.training.data_parallel import World, split
from albert_core.training.step import (
    MOMENT_KEYS,
    OptimizerOptions,
    StepResult,
    TrainStep,
    add_weighted,
    decays,
    moment_key,
)

from .lamb import Lamb
from .model import AlbertTorchModel


class _Loss(torch.nn.Module):
    """The training loss as a module's forward, for DistributedDataParallel (which hooks a module's call)."""

    def __init__(self, model: AlbertTorchModel, step: TorchTrainStep) -> None:
        super().__init__()
        self.model, self.loss = model, step._loss

    def forward(self, batch: dict[str, np.ndarray], seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.loss(batch, seed)


class TorchTrainStep(TrainStep):
    """AdamW or LAMB on the model's parameters in place; see `albert_core.training.step` for the contract. With a
    torchrun `world`, each process runs its piece of every micro-batch (`albert_core.training.data_parallel`)
    through DistributedDataParallel, which sums the gradients across the processes before the update."""

    def __init__(self, model: AlbertTorchModel, options: OptimizerOptions, world: World | None = None) -> None:
        super().__init__(model, options)
        self.world = world or World()
        # Heads a task does not use (the pooler of token classification) get no gradient: DDP must be told.
        self.ddp = DistributedDataParallel(_Loss(model, self), find_unused_parameters=True) \
            if self.world.distributed else None
        self.params = dict(model.named_parameters())
        for p in self.params.values():
            p.requires_grad_(True)
        groups = [{"params": [p for n, p in self.params.items() if decays(n)], "weight_decay": options.weight_decay},
                  {"params": [p for n, p in self.params.items() if not decays(n)], "weight_decay": 0.0}]
        if options.optimizer == "lamb":
            groups[0]["trust_ratio"], groups[1]["trust_ratio"] = True, False
        kind = Lamb if options.optimizer == "lamb" else torch.optim.AdamW
        self.optimizer = kind([g for g in groups if g["params"]], lr=options.schedule.peak,
                              betas=(options.adam_beta1, options.adam_beta2), eps=options.adam_epsilon)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, options.schedule.factor)
        self._steps = 0

    def _loss(self, batch: dict[str, np.ndarray], seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model, ops = self.model, self.model.ops
        params = self.params
        if self.options.bf16:  # bf16 copies for the compute; gradients flow back to the float32 masters
            params = {n: p.to(torch.bfloat16) for n, p in params.items()}
        native = {k: ops.asarray(v) for k, v in batch.items()}
        out = forward(ops, model.config, model.task, params, **native, training=True, rng=seed,
                      gradient_checkpointing=self.options.gradient_checkpointing)
        with torch.no_grad():  # logged only: no graph kept for them through the backward pass
            terms = loss_terms(ops, model.config, model.task, out, **native)
        return out["loss"], terms

    def step(self, micro_batches: Sequence[dict[str, np.ndarray]], weights: Sequence[float],
             dropout_seeds: Sequence[int]) -> StepResult:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, metrics = 0.0, {}
        scale = 1.0
        if self.ddp is not None:  # this process's pieces; DDP averages over the processes, hence the scale
            micro_batches, weights = split(micro_batches, weights, self.world.processes, self.model.task)[
                self.world.rank]
            scale = float(self.world.processes)
        last = len(micro_batches) - 1
        for i, (batch, weight, seed) in enumerate(zip(micro_batches, weights, dropout_seeds)):
            syncing = self.ddp is None or i == last  # one all-reduce per step, after the last micro-batch
            with contextlib.nullcontext() if syncing else self.ddp.no_sync():
                loss, terms = self._loss(batch, seed) if self.ddp is None else self.ddp(batch, seed)
                (loss * (weight * scale)).backward()
            total += weight * float(loss.detach())
            add_weighted(metrics, terms, weight)
        if self.ddp is not None:  # the step's loss and terms over every process's pieces
            summed = torch.tensor([total, *metrics.values()], dtype=torch.float64)
            dist.all_reduce(summed)
            total, metrics = float(summed[0]), dict(zip(metrics, summed[1:].tolist()))
        for p in self.params.values():  # every parameter steps (decay, moments), as optax and Keras do
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        limit = self.options.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(list(self.params.values()), limit if limit else float("inf"))
        learning_rate = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self._steps += 1
        self.model.eval()
        return StepResult(total, float(norm), float(learning_rate), metrics)

    def evaluate(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return super().evaluate(batch)

    @property
    def steps_taken(self) -> int:
        return self._steps

    def optimizer_state(self) -> dict[str, np.ndarray]:
        out = {}
        for name, p in self.params.items():
            state = self.optimizer.state.get(p, {})
            for moment in MOMENT_KEYS:
                value = state.get(moment)
                out[moment_key(moment, name)] = (np.zeros(tuple(p.shape), np.float32) if value is None else
                                                 value.detach().to("cpu", torch.float32).numpy().copy())
        return out

    def load_optimizer_state(self, steps_taken: int, state: dict[str, np.ndarray]) -> None:
        for name, p in self.params.items():
            self.optimizer.state[p] = {
                "step": torch.tensor(float(steps_taken), dtype=torch.float32),
                **{m: torch.from_numpy(np.array(state[moment_key(m, name)], np.float32)).to(p.device, p.dtype)
                   for m in MOMENT_KEYS}}
        self._steps = steps_taken
        self.scheduler.last_epoch = steps_taken
        for group in self.optimizer.param_groups:
            group["lr"] = self.options.schedule.learning_rate(steps_taken)
