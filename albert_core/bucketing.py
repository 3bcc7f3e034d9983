"""Sequence-length bucketing, and the validated, bucketed call path of the backends' models (compiled ones, JAX
`jit` and TensorFlow `tf.function`, pad to a bucket; the generic `backend.OpsModel` runs without padding).

A compiled forward is specialised to its input shapes, so every new sequence length would compile again.
`BucketedCall.__call__` validates the inputs on the host, pads the sequence axis up to a multiple of
`bucket_multiple` (never past `max_position_embeddings`) with the padding masked out, runs the backend's compiled
forward, and slices the outputs back. Padding at the end changes no real token's output: masked keys get zero
attention weight, and absolute and relative positions of real tokens are unchanged. Losses are computed after
slicing (`model.compute_loss`), so they are exactly those of the unpadded input.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from .config import AlbertConfig
from .inputs import prepare_inputs
from .model import ModelOutput, compute_loss
from .ops import Ops
from .tasks import SPECS, task_spec

DEFAULT_BUCKET_MULTIPLE = 32
LABEL_KEYS = tuple(dict.fromkeys(name for spec in SPECS.values() for name in spec.labels))


def bucket_length(seq: int, multiple: int, max_len: int) -> int:
    """Smallest multiple of `multiple` >= seq, capped at `max_len`."""
    return min(max(multiple, math.ceil(seq / multiple) * multiple), max(seq, max_len))


def token_shape(arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    """[batch(, choices), seq] of validated inputs: the shape of the ids, or of the embeddings without E."""
    return arrays["input_ids"].shape if "input_ids" in arrays else arrays["inputs_embeds"].shape[:-1]


def pad_inputs(arrays: dict[str, np.ndarray], target: int) -> dict[str, np.ndarray]:
    """Pad validated host inputs (from `prepare_inputs`, labels removed) on the sequence axis to `target`."""
    shape = token_shape(arrays)
    extra = target - shape[-1]
    if extra <= 0:
        return arrays
    out = dict(arrays)
    mask = arrays.get("attention_mask", np.ones(shape, np.int64))
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
    per_token = task_spec(task).per_token
    for key, value in out.items():
        if key in per_token:
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


class BucketedCall:
    """The call of a backend's model, written once: `model(...)` with HF's argument names validates on
    the host (the core's errors, before anything compiles), pads to the bucket, runs the backend's compiled
    forward, slices the outputs back and adds the loss of the unpadded logits.

    A backend's model class mixes this in, sets `config`, `task`, `ops` and `bucket_multiple` (1: no padding, one
    compilation per exact length), counts `compilations` in its traced function, and implements only:

    - `run_bucket(inputs, *, rng, output_attentions, output_hidden_states, training) -> ModelOutput`: the compiled
      forward on padded, validated host arrays (always with an `attention_mask`, so one bucket is one input
      structure), returning native tensors;
    - `to_native(name, array)`: a validated host array (a label) as a native tensor where the outputs live;
    - optionally `placement()`: a context manager the call runs in (a framework's device scope).
    """

    config: AlbertConfig
    task: str
    ops: Ops
    bucket_multiple: int = DEFAULT_BUCKET_MULTIPLE
    compilations: int = 0

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 head_mask=None, inputs_embeds=None, *, output_attentions: bool = False,
                 output_hidden_states: bool = False, training: bool = False, rng: Any = None,
                 **labels: Any) -> ModelOutput:
        arrays = prepare_inputs(self.config, self.task, self.ops.to_numpy, input_ids=input_ids,
                                attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds, **labels)
        inputs, label_arrays = split_labels(arrays)
        shape = token_shape(inputs)
        seq = shape[-1]
        target = bucket_length(seq, max(1, int(self.bucket_multiple)), self.config.max_position_embeddings)
        inputs.setdefault("attention_mask", np.ones(shape, np.int64))
        with self.placement():
            out = self.run_bucket(pad_inputs(inputs, target), rng=rng, output_attentions=bool(output_attentions),
                                  output_hidden_states=bool(output_hidden_states), training=bool(training))
            if target != seq:
                out = unpad_outputs(out, self.task, seq)
            if label_arrays:
                native = {name: self.to_native(name, value) for name, value in label_arrays.items()}
                loss = compute_loss(self.ops, self.config, self.task, out, **native)
                if loss is not None:
                    out = ModelOutput(loss=loss, **out)
        return out

    def run_bucket(self, inputs: dict[str, np.ndarray], *, rng: Any, output_attentions: bool,
                   output_hidden_states: bool, training: bool) -> ModelOutput:
        """The backend's compiled forward on one padded bucket (see the class docstring)."""
        raise NotImplementedError

    def to_native(self, name: str, value: np.ndarray) -> Any:
        """A validated host array as a native tensor next to the outputs (see the class docstring)."""
        raise NotImplementedError

    def placement(self) -> contextlib.AbstractContextManager:
        """The context the call runs in; none by default."""
        return contextlib.nullcontext()
