"""`AlbertJaxModel`: a params pytree plus a pure `apply`, and a validating, bucketing, jitted `__call__`.

- `model.params` is a flat dict {HF parameter name: jax.Array}, a plain pytree for `jax.grad`, optax, ...
  Dense-layer weights are held as `[in, out]` kernels named `*.kernel` (Flax's layout: HF's `*.weight`
  transposed), which XLA:CPU multiplies by faster; `numpy_params()` and `albert_core.save` give HF's.
- `model.apply(params, input_ids=..., ...)` is a pure function of its arguments (the core's ALBERT
  forward on `JaxOps`); wrap it in `jax.jit` / `jax.grad` / `jax.vmap` yourself. It does not validate.
- `model(...)` is the convenient path, the core's `albert_core.bucketing.BucketedCall`: validates inputs on the
  host, pads the sequence axis to a bucket (a multiple of `bucket_multiple`) so a stream of lengths compiles once
  per bucket, runs one cached `jax.jit` over the whole forward, slices the outputs back and computes the loss.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from albert_core.backend import LoadInfo
from albert_core.bucketing import DEFAULT_BUCKET_MULTIPLE, BucketedCall, token_shape
from albert_core.config import AlbertConfig
from albert_core.errors import InputError
from albert_core.layout import hf_layout
from albert_core.model import ModelOutput, forward

from .ops import JaxOps

OPS = JaxOps()
# XLA:CPU compiles dots to YNNPACK kernels by default; for large float32 batches its Eigen GEMMs are faster
# (measured on the whole albert-base forward, AMD EPYC: 0.96x the time at 8x128, 0.69x at 8x512; but 1.06x at
# 1x128). Not for bfloat16: YNNPACK has the native bf16 kernel (bf16/f32 went from 0.59x to 1.06x without it).
# Per-computation options: the user's own jax programs are unaffected.
LARGE_BATCH_ROWS = 1024
LARGE_BATCH_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def _large_batch_options_supported() -> bool:
    """Whether this jaxlib knows the option (it is experimental; a newer XLA may rename or drop it)."""
    try:
        jax.jit(lambda x: x + 1, compiler_options=LARGE_BATCH_COMPILER_OPTIONS)(np.float32(0)).block_until_ready()
    except Exception:  # noqa: BLE001 - any rejection means: compile without it
        return False
    return True


def _flatten_output(out: ModelOutput):
    keys = tuple(out)
    return [out[k] for k in keys], keys


def _unflatten_output(keys, values) -> ModelOutput:
    return ModelOutput(zip(keys, values))


def host_value(x: Any) -> np.ndarray:
    """A host copy of `x`; of a replicated array that spans other processes' devices too, this process's copy."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(x.addressable_data(0))
    return np.asarray(x)


def global_put(tree: Any, sharding: jax.sharding.Sharding) -> Any:
    """Host values, the same in every process, as arrays of `sharding` (which may span several processes)."""
    def put(x: Any) -> jax.Array:
        host = host_value(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


# ModelOutput is a dict subclass; registering it lets jitted and differentiated functions return it.
jax.tree_util.register_pytree_node(ModelOutput, _flatten_output, _unflatten_output)


class AlbertJaxModel(BucketedCall):
    """ALBERT for one task on JAX. See the module docstring; `docs/backends/jax.md` has examples."""

    def __init__(self, config: AlbertConfig, task: str, params: dict[str, jax.Array], dtype: str,
                 device: jax.Device, info: LoadInfo | None = None, backend: Any = None) -> None:
        self.config, self.task, self.params, self.dtype, self.device = config, task, params, dtype, device
        self.replicated: jax.sharding.Sharding | None = None  # set when the params are replicated over a mesh
        self.load_info = info or LoadInfo()
        self.backend = backend
        self.ops = OPS
        self.bucket_multiple = DEFAULT_BUCKET_MULTIPLE
        self.compilations = 0  # traces of the jitted forward: one per bucket/flags/input-structure combination
        statics = ("output_attentions", "output_hidden_states", "training")
        self._jitted = jax.jit(self._traced_forward, static_argnames=statics)
        self._jitted_large = jax.jit(self._traced_forward, static_argnames=statics,
                                     compiler_options=LARGE_BATCH_COMPILER_OPTIONS)

    # ------------------------------------------------------------------ pure function
    def apply(self, params: dict[str, Any], input_ids=None, attention_mask=None, token_type_ids=None,
              position_ids=None, head_mask=None, inputs_embeds=None, *, output_attentions: bool = False,
              output_hidden_states: bool = False, labels=None, sentence_order_label=None, start_positions=None,
              end_positions=None, training: bool = False, rng: Any = None,
              gradient_checkpointing: bool = False) -> ModelOutput:
        """The forward pass as a pure function of `params` and the inputs (jit/grad/vmap it freely).

        Inputs are used as given, without host validation (use `model(...)` for that). `training=True`
        enables dropout and needs `rng`, a `jax.random.key`."""
        # The core reads HF's [out, in] layout; under jit, XLA folds each kernel's transpose into its matmul.
        return forward(OPS, self.config, self.task, hf_layout(params, jnp.transpose), input_ids=input_ids,
                       attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                       head_mask=head_mask,
                       inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states, labels=labels,
                       sentence_order_label=sentence_order_label, start_positions=start_positions,
                       end_positions=end_positions, training=training, rng=rng,
                       gradient_checkpointing=gradient_checkpointing)

    def _traced_forward(self, params, inputs, rng, *, output_attentions, output_hidden_states, training):
        self.compilations += 1  # Python side effect: runs once per trace, never on a cached call
        return self.apply(params, **inputs, output_attentions=output_attentions,
                          output_hidden_states=output_hidden_states, training=training, rng=rng)

    # ------------------------------------------------------------------ convenient call (albert_core.bucketing)
    def __call__(self, *args: Any, training: bool = False, rng: Any = None, **kwargs: Any) -> ModelOutput:
        """Validated, bucketed, jitted forward with HF's argument names; returns jax.Arrays."""
        if training and rng is None:
            raise InputError("training=True needs rng=jax.random.key(seed) for dropout (JAX has no global "
                             "random state); pass training=False for inference")
        return super().__call__(*args, training=training, rng=rng, **kwargs)

    def run_bucket(self, inputs, *, rng, output_attentions, output_hidden_states, training) -> ModelOutput:
        native = {k: self.to_native(k, v) for k, v in inputs.items()}
        rows = math.prod(token_shape(inputs))  # token rows every dense layer multiplies
        large = rows >= LARGE_BATCH_ROWS and self.dtype == "float32" and self.device.platform == "cpu" and \
            _large_batch_options_supported()
        return (self._jitted_large if large else self._jitted)(
            self.params, native, rng, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, training=training)

    def to_native(self, name: str, value: np.ndarray) -> jax.Array:
        if self.replicated is not None:
            return global_put(self._host_cast(name, value), self.replicated)
        return jax.device_put(self._host_cast(name, value), self.device)

    @staticmethod
    def _host_cast(name: str, value: np.ndarray) -> np.ndarray:
        """Narrow host arrays to what JAX uses (int32 ids, float32 masks/embeddings) without a warning."""
        if np.issubdtype(value.dtype, np.integer):
            return value.astype(np.int32)
        if np.issubdtype(value.dtype, np.floating):
            return value.astype(np.float32)
        return value

    # ------------------------------------------------------------------ parameters
    def numpy_params(self) -> dict[str, np.ndarray]:
        """HF-named float32 host copies of the parameters in HF's layout (what `albert_core.save` writes)."""
        return {name: np.ascontiguousarray(host_value(jnp.asarray(value, jnp.float32)))
                for name, value in hf_layout(self.params, jnp.transpose).items()}

    def num_parameters(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.params.values()))

    def __repr__(self) -> str:
        return (f"AlbertJaxModel(task={self.task!r}, dtype={self.dtype!r}, device={self.device}, "
                f"hidden_size={self.config.hidden_size}, layers={self.config.num_hidden_layers})")
