"""Pretraining batches streamed from a data folder's shards, in an order that is a pure function of the seed, the
epoch and the step (as fine-tuning's `Batches`): each epoch visits the shards in a seeded order and each shard's
instances in a seeded order, holding one shard in memory at a time. A run resumed at step k, on any backend, sees
the batches an uninterrupted run would have seen."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..bucketing import DEFAULT_BUCKET_MULTIPLE, bucket_length
from ..ops import IGNORE_INDEX
from .shards import load_shard, read_manifest, shard_path


class PretrainingBatches:
    """Micro-batches of `batch_size` instances, `accumulation` per optimizer step, equally weighted (each
    micro-batch's loss is its own mean, as HF Trainer and Google's script average them)."""

    def __init__(self, folder: str | os.PathLike, *, batch_size: int, accumulation: int, seed: int,
                 shuffle: bool = True, pad_id: int = 0) -> None:
        self.folder, self.manifest = Path(folder), read_manifest(folder)
        self.batch_size, self.accumulation, self.seed, self.shuffle = batch_size, accumulation, seed, shuffle
        self.pad_id = pad_id
        self.sizes = [int(entry["instances"]) for entry in self.manifest["shards"]]
        self.instances = sum(self.sizes)
        self.max_length = int(self.manifest["options"]["max_seq_length"])
        self.micro_per_epoch = math.ceil(self.instances / batch_size)
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / accumulation)
        self._shard: tuple[int, dict[str, np.ndarray] | None] = (-1, None)

    def check(self) -> None:
        """Before the first step: every shard the manifest lists is there, and the first reads back whole (each
        shard is checked again when it is read, so a damaged one later is a `DataError` naming it, not a crash;
        reading them all here would read the whole corpus once more)."""
        for entry in self.manifest["shards"]:
            shard_path(self.folder, entry)
        if self.manifest["shards"]:
            load_shard(self.folder, self.manifest["shards"][0])

    def _shard_order(self, epoch: int) -> np.ndarray:
        n = len(self.sizes)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def _rows(self, epoch: int, start: int, stop: int) -> list[tuple[int, int]]:
        """(shard, row) of positions [start, stop) of the epoch's instance order."""
        order = self._shard_order(epoch)
        ends = np.cumsum([self.sizes[s] for s in order])
        out = []
        for position in range(start, min(stop, self.instances)):
            k = int(np.searchsorted(ends, position, side="right"))
            shard = int(order[k])
            local = position - (int(ends[k - 1]) if k else 0)
            out.append((shard, int(self._row_order(epoch, shard)[local])))
        return out

    @functools.lru_cache(maxsize=4)  # noqa: B019 - a few (epoch, shard) orders per run, freed with it
    def _row_order(self, epoch: int, shard: int) -> np.ndarray:
        size = self.sizes[shard]
        return np.random.default_rng([self.seed, epoch, shard]).permutation(size) if self.shuffle else np.arange(size)

    def _load(self, shard: int) -> dict[str, np.ndarray]:
        if self._shard[0] != shard:
            self._shard = (shard, load_shard(self.folder, self.manifest["shards"][shard]))
        return self._shard[1]

    def step(self, global_step: int) -> tuple[list[dict[str, np.ndarray]], list[float]]:
        """The micro-batches of optimizer step `global_step` (0-based) and their weights (summing to 1)."""
        epoch, index = divmod(global_step, self.steps_per_epoch)
        first = index * self.accumulation
        batches = []
        for micro in range(first, min(first + self.accumulation, self.micro_per_epoch)):
            picked = self._rows(epoch, micro * self.batch_size, (micro + 1) * self.batch_size)
            batches.append(self.collate(picked))
        return batches, [1.0 / len(batches)] * len(batches)

    def collate(self, picked: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        """Model inputs for instances (shard, row), padded to a bucket length: the masked `input_ids`, the
        `attention_mask`, `token_type_ids` (1 from segment B on), MLM `labels` (-100 except at the masked positions)
        and `sentence_order_label`."""
        instances = [self._instance(shard, row) for shard, row in picked]
        length = bucket_length(max(len(i["ids"]) for i in instances), DEFAULT_BUCKET_MULTIPLE, self.max_length)
        batch: dict[str, Any] = {
            "input_ids": np.full((len(instances), length), self.pad_id, np.int64),
            "attention_mask": np.zeros((len(instances), length), np.int64),
            "token_type_ids": np.zeros((len(instances), length), np.int64),
            "labels": np.full((len(instances), length), IGNORE_INDEX, np.int64),
            "sentence_order_label": np.array([i["order"] for i in instances], np.int64)}
        for r, i in enumerate(instances):
            n = len(i["ids"])
            batch["input_ids"][r, :n] = i["ids"]
            batch["attention_mask"][r, :n] = 1
            batch["token_type_ids"][r, i["segment_b"]:n] = 1
            batch["labels"][r, i["positions"]] = i["labels"]
        return batch

    def _instance(self, shard: int, row: int) -> dict[str, Any]:
        s = self._load(shard)
        a, b = s["offsets"][row], s["offsets"][row + 1]
        ma, mb = s["masked_offsets"][row], s["masked_offsets"][row + 1]
        return {"ids": s["input_ids"][a:b], "segment_b": int(s["segment_b"][row]),
                "order": int(s["sentence_order_label"][row]), "positions": s["masked_positions"][ma:mb],
                "labels": s["masked_ids"][ma:mb]}
