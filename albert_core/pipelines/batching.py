"""Length-sorted batching for the pipelines: features in, host arrays per feature out, in input order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Feature:
    """One model row: ids and token types, a (seq,) list or, for multiple choice, a (choices, seq) list of lists."""

    input_ids: list[int] | list[list[int]]
    token_type_ids: list[int] | list[list[int]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def choices(self) -> int:
        return len(self.input_ids) if self.input_ids and isinstance(self.input_ids[0], list) else 0

    @property
    def length(self) -> int:
        if self.choices:
            return max(len(row) for row in self.input_ids)
        return len(self.input_ids)


def _pad(rows: Sequence[Sequence[int]], width: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    return ids, mask


def _batch_arrays(features: list[Feature], pad_id: int) -> dict[str, np.ndarray]:
    width = max(f.length for f in features)
    if features[0].choices:
        choices = features[0].choices
        flat_ids = [row for f in features for row in f.input_ids]
        flat_types = [row for f in features for row in f.token_type_ids]
        ids, mask = _pad(flat_ids, width, pad_id)
        types, _ = _pad(flat_types, width, 0)
        shape = (len(features), choices, width)
        return {"input_ids": ids.reshape(shape), "attention_mask": mask.reshape(shape),
                "token_type_ids": types.reshape(shape)}
    ids, mask = _pad([f.input_ids for f in features], width, pad_id)
    types, _ = _pad([f.token_type_ids for f in features], width, 0)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _host(to_numpy: Callable[[Any], np.ndarray], value: Any) -> np.ndarray:
    array = np.asarray(to_numpy(value))
    return array.astype(np.float32) if array.dtype in (np.float16,) or array.dtype.kind != "f" else array


def run_batches(model: Any, to_numpy: Callable[[Any], np.ndarray], features: list[Feature], *, batch_size: int,
                pad_id: int, fields: dict[str, str]) -> list[dict[str, np.ndarray]]:
    """Run `features` through `model` in batches of similar length; results come back in input order.

    `fields` maps a model output name to how it is returned: "token" (cut to the feature's length) or "row".
    Sorting by length (and, for multiple choice, by choice count, which must agree within a batch) keeps
    padding small; each result is a dict of host arrays for one feature.
    """
    order = sorted(range(len(features)), key=lambda i: (features[i].choices, features[i].length))
    results: list[dict[str, np.ndarray] | None] = [None] * len(features)
    position = 0
    while position < len(order):
        batch = [order[position]]
        while (len(batch) < batch_size and position + len(batch) < len(order)
               and features[order[position + len(batch)]].choices == features[batch[0]].choices):
            batch.append(order[position + len(batch)])
        position += len(batch)
        chosen = [features[i] for i in batch]
        outputs = model(**_batch_arrays(chosen, pad_id))
        host = {name: _host(to_numpy, outputs[name]) for name in fields}
        for row, index in enumerate(batch):
            length = features[index].length
            results[index] = {name: host[name][row, :length] if how == "token" else host[name][row]
                              for name, how in fields.items()}
    return results  # type: ignore[return-value]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x.astype(np.float64) - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x.astype(np.float64))
