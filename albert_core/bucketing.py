"""Sequence-length bucketing for compiled backends (JAX `jit`, TensorFlow `tf.function`).

A compiled forward is specialised to its input shapes, so every new sequence length would compile again.
Backends pad the sequence axis up to a multiple of `multiple` (never past `max_position_embeddings`),
with attention mask 0 on the padding, run the compiled function, and slice the outputs back. Padding at
the end changes no real token's output: masked keys get zero attention weight, and absolute and relative
positions of real tokens are unchanged. Losses are computed after slicing (`model.compute_loss`), so
they are exactly those of the unpadded input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .model import ModelOutput

SEQ_FIELDS_AXIS1 = ("last_hidden_state", "prediction_logits", "start_logits", "end_logits")
LABEL_KEYS = ("labels", "sentence_order_label", "start_positions", "end_positions")


def bucket_length(seq: int, multiple: int, max_len: int) -> int:
    """Smallest multiple of `multiple` >= seq, capped at `max_len`."""
    return min(max(multiple, math.ceil(seq / multiple) * multiple), max(seq, max_len))


def pad_inputs(arrays: dict[str, np.ndarray], target: int) -> dict[str, np.ndarray]:
    """Pad validated host inputs (from `prepare_inputs`, labels removed) on the sequence axis to `target`."""
    base = arrays["input_ids"] if "input_ids" in arrays else arrays["inputs_embeds"][..., 0]
    seq = base.shape[-1]
    extra = target - seq
    if extra <= 0:
        return arrays
    out = dict(arrays)
    mask = arrays.get("attention_mask", np.ones(base.shape, np.int64))
    # -1 marks bucket padding (prepare_inputs rejects it from users): the model's bias (1 - mask) * MASK_FILL
    # is then twice MASK_FILL (-inf in float32), below any user-masked key, so a row the user masked entirely
    # stays uniform over its real keys, exactly as without padding.
    out["attention_mask"] = _pad(mask, extra, -1, value=-1)
    for key in ("input_ids", "token_type_ids"):
        if key in arrays:
            out[key] = _pad(arrays[key], extra, -1)
    if "position_ids" in arrays:
        out["position_ids"] = _pad(arrays["position_ids"], extra, -1)
    if "inputs_embeds" in arrays:
        out["inputs_embeds"] = _pad(arrays["inputs_embeds"], extra, -2)
    return out


def _pad(x: np.ndarray, extra: int, axis: int, value: int = 0) -> np.ndarray:
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, extra)
    return np.pad(x, widths, constant_values=value)


def unpad_outputs(out: ModelOutput, task: str, seq: int) -> ModelOutput:
    """Slice every sequence axis of `out` back to `seq` tokens."""
    result = ModelOutput()
    for key, value in out.items():
        if key in SEQ_FIELDS_AXIS1 or (key == "logits" and task in ("masked-lm", "token-classification")):
            result[key] = value[:, :seq]
        elif key == "hidden_states":
            result[key] = tuple(h[:, :seq] for h in value)
        elif key == "attentions":
            result[key] = tuple(a[:, :, :seq, :seq] for a in value)
        else:
            result[key] = value
    return result


def split_labels(arrays: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, labels) from a `prepare_inputs` result."""
    labels = {k: v for k, v in arrays.items() if k in LABEL_KEYS}
    return {k: v for k, v in arrays.items() if k not in LABEL_KEYS}, labels
