"""`AlbertTFModel`: a loaded ALBERT as a `tf.Module` holding HF-named `tf.Variable`s.

Calling it eagerly is the core's call path (`albert_core.bucketing.BucketedCall`): inputs validated on the host
(so bad ids raise `InputError` instead of TensorFlow's silent zeros on GPU), the sequence axis padded to a bucket,
one cached `tf.function` per (bucketed shape, flags), outputs sliced back, losses computed on the unpadded logits.
Called inside a user's `tf.function` (symbolic inputs), it runs the core forward directly in that graph, with
in-graph assertions on the ids, so it can be traced and saved with `tf.saved_model`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from albert_core.backend import LoadInfo
from albert_core.bucketing import DEFAULT_BUCKET_MULTIPLE, BucketedCall
from albert_core.config import AlbertConfig
from albert_core.errors import InputError
from albert_core.inputs import check_one_input, id_bounds
from albert_core.layout import hf_layout, param_table
from albert_core.model import ModelOutput, forward

from .ops import TFOps

_OPS = TFOps()
_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds")


class _TraceCache:
    """The compiled forward and its trace counter. A plain object, so `tf.Module` neither tracks nor saves it."""

    def __init__(self, fn, jit_compile: bool) -> None:
        self.function = tf.function(fn, jit_compile=jit_compile, reduce_retracing=False)
        self.traces = 0
        self.signatures: list[tuple] = []


class AlbertTFModel(BucketedCall, tf.Module):
    """ALBERT for `task` on TensorFlow. Call with HF's argument names; returns a `ModelOutput` of tensors.

    `params` maps HF parameter names to `tf.Variable`s (trainable when loaded with `trainable=True`), so
    `model.trainable_variables` feeds `tf.GradientTape` and optimizers directly. Dense weights are held as
    Keras-layout `[in, out]` kernels named `*.kernel` (HF's `*.weight` transposed; `numpy_params()` and saving
    give HF's names and layout), because TF's CPU matmul is faster on them. `bucket_multiple` is the
    sequence bucket (1 disables padding: one trace per exact length); `compilations` counts traces.
    """

    def __init__(self, config: AlbertConfig, task: str, params: dict[str, tf.Variable], *, dtype: str, device: str,
                 info: LoadInfo | None = None, bucket_multiple: int = DEFAULT_BUCKET_MULTIPLE,
                 jit_compile: bool = False):
        super().__init__(name="albert")
        self.params = params
        self.config, self.task, self.dtype, self.device = config, task, dtype, device
        self.load_info = info or LoadInfo()
        self.ops = _OPS
        self.bucket_multiple = bucket_multiple
        self._cache = _TraceCache(self._compiled_forward, jit_compile)

    # ---------------------------------------------------------------- calling (albert_core.bucketing)
    def __call__(self, *args: Any, **kwargs: Any) -> ModelOutput:
        """HF's argument names; eagerly the core's validated, bucketed call, inside a user's tf.function the
        forward in that graph. Returns a `ModelOutput` of tensors."""
        given = dict(zip(_INPUT_NAMES, args), **kwargs)
        if not tf.executing_eagerly() or any(_symbolic(v) for v in given.values()):
            flags = {k: bool(given.pop(k, False)) for k in ("output_attentions", "output_hidden_states", "training")}
            rng = given.pop("rng", None)
            return self._graph_call({k: v for k, v in given.items() if v is not None}, flags, rng)
        return super().__call__(*args, **kwargs)

    def run_bucket(self, inputs, *, rng, output_attentions, output_hidden_states, training) -> ModelOutput:
        if isinstance(rng, (int, np.integer)):
            rng = tf.constant(int(rng), tf.int64)  # a tensor, so a new seed does not retrace
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        return ModelOutput(self._cache.function(tensors, rng=rng, output_attentions=output_attentions,
                                                output_hidden_states=output_hidden_states, training=training))

    def to_native(self, name: str, value: np.ndarray) -> tf.Tensor:
        return tf.constant(value)

    def placement(self):
        return tf.device(self.device)

    def _compiled_forward(self, tensors: dict[str, tf.Tensor], *, rng, output_attentions, output_hidden_states,
                          training) -> dict[str, Any]:
        # Runs only while tracing, so it counts compilations.
        self._cache.traces += 1
        self._cache.signatures.append((tuple((k, tuple(v.shape)) for k, v in sorted(tensors.items())),
                                       output_attentions, output_hidden_states, training))
        out = forward(self.ops, self.config, self.task, self.hf_params(), **tensors,
                      output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                      training=training, rng=rng)
        return dict(out)

    def _graph_call(self, given: dict[str, Any], flags: dict[str, bool], rng: Any) -> ModelOutput:
        """Inside a user's tf.function: the core forward in that graph, ids checked by in-graph assertions."""
        c = self.config
        t = {k: tf.convert_to_tensor(v) for k, v in given.items() if v is not None}
        check_one_input(t.get("input_ids"), t.get("inputs_embeds"))
        checks = []
        for name, high in id_bounds(c).items():  # the core's bounds, asserted in the graph
            if name in t:
                t[name] = tf.cast(t[name], tf.int64)
                checks.append(tf.debugging.assert_non_negative(t[name], message=f"{name} must be >= 0"))
                checks.append(tf.debugging.assert_less(t[name], tf.constant(high, tf.int64),
                                                       message=f"{name} must be < {high}"))
        with tf.control_dependencies(checks):
            t = {k: tf.identity(v) for k, v in t.items()}
        base = t["input_ids"] if "input_ids" in t else t["inputs_embeds"][..., 0]
        if c.position_embedding_type != "absolute" and base.shape[-1] is None:
            raise InputError(f"position_embedding_type={c.position_embedding_type!r} needs a static sequence length "
                             "in a traced function; give the input_signature a fixed sequence length")
        # Defaults built here, with dynamic shapes (the core would build them from static ones).
        t.setdefault("attention_mask", tf.ones(tf.shape(base), tf.int64))
        t.setdefault("token_type_ids", tf.zeros(tf.shape(base), tf.int64))
        t.setdefault("position_ids", tf.range(tf.shape(base)[-1], dtype=tf.int64)[None])
        return forward(self.ops, c, self.task, self.hf_params(), **t, rng=rng, **flags)

    def hf_params(self) -> dict[str, Any]:
        """The variables in HF's names and layout, as the core model reads them: each kernel's transpose,
        which TF's graph optimizer folds into the matmul that consumes it (no copy at run time)."""
        return hf_layout(self.params, tf.transpose)

    # ---------------------------------------------------------------- introspection
    @property
    def compilations(self) -> int:
        """How many times the cached forward was traced (compiled) so far."""
        return self._cache.traces

    trace_count = compilations  # its earlier name, kept as an alias (docs/backends/tensorflow.md)

    @property
    def trace_signatures(self) -> list[tuple]:
        """(input shapes, output_attentions, output_hidden_states, training) of each trace, in order."""
        return list(self._cache.signatures)

    def numpy_params(self) -> dict[str, np.ndarray]:
        """HF-named float32 host arrays (what `albert_core.save` writes)."""
        view = self.hf_params()
        return {s.name: _OPS.to_numpy(view[s.name]).astype(np.float32, copy=False)
                for s in param_table(self.config, self.task)}

    def __repr__(self) -> str:
        return (f"AlbertTFModel(task={self.task!r}, dtype={self.dtype!r}, device={self.device!r}, "
                f"hidden_size={self.config.hidden_size}, layers={self.config.num_hidden_layers}, "
                f"compilations={self.compilations})")


def _symbolic(value: Any) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable)) and tf.is_symbolic_tensor(value)
