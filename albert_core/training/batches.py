"""The data order and the batches, on the host and identical on every backend: a pure function of the seed, the
epoch and the step, so a run resumed at step k (on any backend) sees exactly the batches an uninterrupted run
would have seen from step k on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..bucketing import DEFAULT_BUCKET_MULTIPLE, bucket_length
from ..ops import IGNORE_INDEX
from ..tasks import MASKED_LM, task_spec
from .features import Features
from .masking import mask_tokens

# Per-token rows padded with these values (labels: ignored by the loss; special_tokens_mask: never masked).
PAD_VALUES = {"labels": IGNORE_INDEX, "special_tokens_mask": True}
_EVAL_STREAM = 2**31 - 1  # the MLM masks of evaluation batches: one fixed stream, so evaluations compare


@dataclass(frozen=True)
class Masking:
    """Dynamic masked-LM masking of each batch (HF's DataCollatorForLanguageModeling)."""

    vocab_size: int
    mask_token_id: int
    probability: float = 0.15


def collate(rows: Sequence[dict[str, np.ndarray]], task: str, max_length: int,
            pad_id: int = 0) -> dict[str, np.ndarray]:
    """Stack unpadded rows into one batch, padded on the token axis to a bucket length (a multiple of 32, at most
    `max_length`), so compiled backends see few shapes."""
    longest = max(row["input_ids"].shape[-1] for row in rows)
    target = bucket_length(longest, DEFAULT_BUCKET_MULTIPLE, max_length)
    batch = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        if values[0].ndim == 0 or (key == "labels" and task_spec(task).label_kind != "token"):
            batch[key] = np.stack(values)  # one label per row (classes, floats, multi-hot, choices, spans)
            continue
        fill = PAD_VALUES.get(key, pad_id if key == "input_ids" else 0)
        widths = [[(0, 0)] * (v.ndim - 1) + [(0, target - v.shape[-1])] for v in values]
        batch[key] = np.stack([np.pad(v, w, constant_values=fill) for v, w in zip(values, widths)])
    return batch


def loss_items(batch: dict[str, np.ndarray], task: str) -> int:
    """How many terms the task's mean loss averages over: labelled tokens for per-token tasks, else rows."""
    if task_spec(task).label_kind == "token":
        return int(np.count_nonzero(batch["labels"] != IGNORE_INDEX))
    return int(batch["input_ids"].shape[0])


class Batches:
    """Micro-batches of `batch_size` rows in a seeded order per epoch, `accumulation` of them per optimizer step
    (the last step of an epoch may have fewer, as in HF Trainer)."""

    def __init__(self, features: Features, *, batch_size: int, accumulation: int, seed: int, shuffle: bool,
                 max_length: int, masking: Masking | None = None) -> None:
        self.features, self.batch_size, self.accumulation = features, batch_size, accumulation
        self.seed, self.shuffle, self.max_length, self.masking = seed, shuffle, max_length, masking
        self.micro_per_epoch = math.ceil(len(features) / batch_size)
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / accumulation)
        self._order: tuple[int, np.ndarray | None] = (-1, None)

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's row order (read-only), drawn once per epoch rather than at every step."""
        if self._order[0] != epoch:
            n = len(self.features)
            order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
            order.setflags(write=False)
            self._order = (epoch, order)
        return self._order[1]

    def step(self, global_step: int) -> tuple[list[dict[str, np.ndarray]], list[float]]:
        """The micro-batches of optimizer step `global_step` (0-based) and their loss weights (summing to 1)."""
        epoch, index = divmod(global_step, self.steps_per_epoch)
        order = self.order(epoch)
        first = index * self.accumulation
        batches = []
        for micro in range(first, min(first + self.accumulation, self.micro_per_epoch)):
            picked = order[micro * self.batch_size:(micro + 1) * self.batch_size]
            batches.append(self._batch(picked, [epoch]))
        counts = [loss_items(b, self.features.task) for b in batches]
        kept = [(b, c) for b, c in zip(batches, counts) if c]  # a micro-batch without a labelled token adds nothing
        total = sum(c for _, c in kept)
        return [b for b, _ in kept], [c / total for _, c in kept]

    def evaluation(self, batch_size: int) -> list[dict[str, np.ndarray]]:
        """The whole set in file order, for evaluation (MLM masks from one fixed stream)."""
        rows = np.arange(len(self.features))
        return [self._batch(rows[i:i + batch_size], [_EVAL_STREAM]) for i in range(0, len(rows), batch_size)]

    def _batch(self, picked: np.ndarray, stream: list[int]) -> dict[str, np.ndarray]:
        """The rows `picked`, MLM-masked, padded into one batch. Each row is masked on its own, from a generator of
        (seed, `stream`, row index), before padding: its masks depend neither on the batch size nor on the batch's
        padding, so accumulating micro-batches sees the masks one large batch would."""
        rows = [self.features.rows[i] for i in picked]
        if self.features.task == MASKED_LM and self.masking is not None:
            rows = [self._masked(row, [*stream, int(i)]) for row, i in zip(rows, picked)]
        batch = collate(rows, self.features.task, self.max_length)
        batch.pop("special_tokens_mask", None)  # not a model input
        return batch

    def _masked(self, row: dict[str, np.ndarray], stream: list[int]) -> dict[str, np.ndarray]:
        m = self.masking
        ids, labels = mask_tokens(row["input_ids"][None], row["special_tokens_mask"][None],
                                  np.random.default_rng([self.seed, *stream]), vocab_size=m.vocab_size,
                                  mask_token_id=m.mask_token_id, probability=m.probability)
        return {**row, "input_ids": ids[0], "labels": labels[0]}
