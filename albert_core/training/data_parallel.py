"""Data-parallel training, the part that is the same on every backend: where the replicas are (`World`), and how a
global micro-batch is cut into one piece per replica so that the replicas' summed gradients equal the single-process
gradient of the whole micro-batch.

The trainer builds the same global micro-batches on every process (`per_device_train_batch_size` x replicas rows
each), exactly as a single-process run with that batch size would. A backend's `TrainStep` then either

- gives each replica its piece (`split`): piece r of a micro-batch of weight w carries weight w * n_r / N, where n_r
  counts the items its mean loss averages over (rows, or labelled tokens) and N is the micro-batch's count. The
  pieces' weighted mean losses then sum to the micro-batch's mean loss, and their gradients, summed across replicas
  (an all-reduce), to its gradient: exact for every task, any batch size, any padding. A piece without items (fewer
  rows than replicas, no labelled token in its rows) is one row of the micro-batch with weight 0, so that every
  replica still runs the same forward and backward passes;
- or shards the whole micro-batch over a device mesh (`pad_rows` first, to a multiple of the devices: the added
  rows' labels are ignored by the loss, so the global mean is unchanged), and lets the compiler partition the one
  program.

Pretraining's loss is two means (masked tokens, rows); like its micro-batches, pieces are weighted by rows there.
Dropout masks are drawn per replica, so with dropout > 0 a distributed run is a different (equally valid) random
draw from a single-process one; with dropout 0 the two agree to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ops import IGNORE_INDEX
from ..tasks import PRETRAINING, QUESTION_ANSWERING
from .batches import loss_items

MODES = ("auto", "off", "on")  # --distributed: from the launcher's environment / never / required


def check_mode(mode: object) -> None:
    if mode not in MODES:
        raise ConfigError(f"--distributed {mode!r} is not one of {', '.join(MODES)}; pass 'auto' (a launcher's "
                          "environment or several devices decide), 'off' or 'on' (fail unless there are replicas)")


@dataclass(frozen=True)
class World:
    """The data-parallel replicas of a run: this process's `rank` among `processes` (rank 0 writes the log,
    checkpoints and the final model), `replicas` in all (devices across processes), the `engine` running them,
    the `device` this process trains on when the engine assigns one (torchrun's local GPU), and whether the step
    shards whole micro-batches over a device `mesh` (`pad_rows`) rather than giving each replica its piece
    (`split`); `handle` is what the backend's step needs of its engine."""

    rank: int = 0
    processes: int = 1
    replicas: int = 1
    engine: str = "single process"
    device: str | None = None
    mesh: bool = False
    handle: Any = field(default=None, compare=False, repr=False)  # the engine's own object (a tf.distribute strategy)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.replicas > 1


def single(mode: str, backend: str) -> World:
    """The world of a backend that found no replicas: `World()`, or, under `--distributed on`, an error."""
    check_mode(mode)
    if mode == "on":
        raise ConfigError(f"--distributed on: the {backend} backend found a single device and no launcher; see "
                          "docs/scaling.md for how to start a data-parallel run on it, or pass --distributed auto")
    return World()


def _items(batch: dict[str, np.ndarray], task: str) -> int:
    return int(batch["input_ids"].shape[0]) if task == PRETRAINING else loss_items(batch, task)


def _rows(batch: dict[str, np.ndarray], rows: np.ndarray | slice) -> dict[str, np.ndarray]:
    return {name: value[rows] for name, value in batch.items()}


def split(micro_batches: Sequence[dict[str, np.ndarray]], weights: Sequence[float], parts: int,
          task: str) -> list[tuple[list[dict[str, np.ndarray]], list[float]]]:
    """Per replica r < `parts`: its pieces of the step's micro-batches (consecutive rows, the first replicas taking
    one more where the rows do not divide) and their weights; see the module docstring."""
    out: list[tuple[list[dict[str, np.ndarray]], list[float]]] = [([], []) for _ in range(parts)]
    for batch, weight in zip(micro_batches, weights):
        rows = int(batch["input_ids"].shape[0])
        total = _items(batch, task)
        bounds = np.cumsum([0] + [rows // parts + (r < rows % parts) for r in range(parts)])
        counts = [_items(_rows(batch, slice(a, b)), task) if b > a else 0 for a, b in zip(bounds, bounds[1:])]
        for r, (a, b) in enumerate(zip(bounds, bounds[1:])):
            if counts[r]:
                out[r][0].append(_rows(batch, slice(a, b)))
                out[r][1].append(weight * counts[r] / total)
            else:  # a stand-in with items, weighted 0: the replica's passes (and collectives) still run
                donor = next(i for i in range(rows) if _items(_rows(batch, slice(i, i + 1)), task))
                out[r][0].append(_rows(batch, slice(donor, donor + 1)))
                out[r][1].append(0.0)
    return out


def ignorable(task: str, problem_type: str | None) -> bool:
    """Whether a row's labels can be set so that the task's loss ignores it (every cross-entropy task; not
    regression or multi-label classification, whose losses average every row)."""
    return problem_type not in ("regression", "multi_label_classification")


def pad_rows(batch: dict[str, np.ndarray], multiple: int, task: str) -> dict[str, np.ndarray]:
    """`batch` with copies of its first row appended up to a multiple of `multiple` rows, their labels ignored (-100;
    answer positions past the sequence): the loss's mean and gradient are unchanged."""
    rows = int(batch["input_ids"].shape[0])
    extra = -rows % multiple
    if not extra:
        return batch
    out = {}
    for name, value in batch.items():
        added = np.repeat(value[:1], extra, axis=0)
        if name in ("labels", "sentence_order_label"):
            added = np.full_like(added, IGNORE_INDEX)
        elif task == QUESTION_ANSWERING and name in ("start_positions", "end_positions"):
            added = np.full_like(added, batch["input_ids"].shape[-1])  # clamped to S, then ignored
        out[name] = np.concatenate([value, added])
    return out


def check_even_rows(rows: int, micro_batch: int, replicas: int, task: str, problem_type: str | None) -> None:
    """For a mesh (`pad_rows`): a loss that averages every row needs every micro-batch to divide over the replicas;
    said before the first step, with what to change."""
    if replicas <= 1 or ignorable(task, problem_type):
        return
    last = rows % micro_batch or micro_batch
    if micro_batch % replicas or last % replicas:
        raise ConfigError(f"{problem_type} averages its loss over every row, so on {replicas} devices every "
                          f"micro-batch needs a multiple of {replicas} rows, but with {rows} training rows in "
                          f"micro-batches of {micro_batch} the last of each epoch has {last}; pass a "
                          "--per-device-train-batch-size or a training set that divides, or --distributed off")
