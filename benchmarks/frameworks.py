"""Per-framework adapters: load our backend or HF's model from the same folder, and call either on a batch.

HF's implementation per framework is what a user would run instead: PyTorch `AlbertModel` with sdpa
attention; `FlaxAlbertModel` under `jax.jit`; `TFAlbertModel` under `tf.function`. Every runner blocks
until its output exists (JAX dispatch is asynchronous) and returns the last hidden state on the host.
Imports happen inside the functions, so a worker imports only its own framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BACKEND_MODULE = {"torch": "albert_torch", "jax": "albert_jax", "tensorflow": "albert_tensorflow"}
HF_CLASS = {"torch": "AlbertModel", "jax": "FlaxAlbertModel", "tensorflow": "TFAlbertModel"}
HF_LABEL = {"torch": "HF AlbertModel (sdpa)", "jax": "HF FlaxAlbertModel (jax.jit)",
            "tensorflow": "HF TFAlbertModel (tf.function)"}


def import_framework(framework: str) -> Any:
    module = importlib.import_module(framework)
    if framework == "jax":
        import jax.numpy  # noqa: F401 - part of the framework's own import cost
    return module


def import_library(framework: str, impl: str) -> None:
    """Import our backend package (plus the core) or HF transformers' model class, outside any timed load."""
    if impl == "ours":
        importlib.import_module("albert_core")
        importlib.import_module(BACKEND_MODULE[framework] + ".backend")
    else:
        import transformers

        transformers.logging.set_verbosity_error()
        getattr(transformers, HF_CLASS[framework])


def load_ours(framework: str, folder: Path, dtype: str = "float32") -> Any:
    import albert_core as ac

    return ac.load(folder, backend=framework, task="base", dtype=dtype)


def load_hf(framework: str, folder: Path) -> Any:
    import transformers

    transformers.logging.set_verbosity_error()
    cls = getattr(transformers, HF_CLASS[framework])
    if framework == "torch":
        model = cls.from_pretrained(folder, attn_implementation="sdpa").eval()
        assert model.config._attn_implementation == "sdpa", model.config._attn_implementation
        return model
    if framework == "tensorflow":
        # transformers 4.57's TF reader fails on PyTorch-format safetensors unless it converts via torch.
        return cls.from_pretrained(folder, from_pt=True)
    return cls.from_pretrained(folder)


def native_inputs(framework: str, ids: np.ndarray, mask: np.ndarray) -> tuple[Any, Any]:
    if framework == "torch":
        import torch

        return torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask.astype(np.int64))
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32)
    import tensorflow as tf

    return tf.constant(ids.astype(np.int32)), tf.constant(mask.astype(np.int32))


def ours_call(framework: str, model: Any) -> Callable[[Any, Any], np.ndarray]:
    """The user-facing call: host validation, (bucketing and the cached compiled forward for JAX/TF)."""
    if framework == "torch":
        import torch

        def run(ids: Any, mask: Any) -> np.ndarray:
            with torch.inference_mode():
                return model(ids, attention_mask=mask).last_hidden_state.float().numpy()
        return run
    if framework == "jax":
        return lambda ids, mask: np.asarray(model(ids, attention_mask=mask).last_hidden_state)
    return lambda ids, mask: model(ids, attention_mask=mask).last_hidden_state.numpy()


class HFCall:
    """HF's model as `call(ids, mask) -> host array`; `compiled` wraps JAX in one `jax.jit` and TF in one
    `tf.function` (what the benchmark compares), whose trace count `compilations()` reports."""

    def __init__(self, framework: str, model: Any, *, compiled: bool = True) -> None:
        self.framework, self.model, self.compiled = framework, model, compiled
        self._fn: Any = None
        if framework == "jax" and compiled:
            import jax

            self._fn = jax.jit(lambda p, i, m: model(i, m, params=p, train=False).last_hidden_state)
        elif framework == "tensorflow" and compiled:
            import tensorflow as tf

            self._fn = tf.function(lambda i, m: model(input_ids=i, attention_mask=m, training=False).last_hidden_state)

    def __call__(self, ids: Any, mask: Any) -> np.ndarray:
        if self.framework == "torch":
            import torch

            with torch.inference_mode():
                return self.model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
        if self.framework == "jax":
            if self._fn is not None:
                return np.asarray(self._fn(self.model.params, ids, mask))
            return np.asarray(self.model(ids, mask).last_hidden_state)
        if self._fn is not None:
            return self._fn(ids, mask).numpy()
        return self.model(input_ids=ids, attention_mask=mask, training=False).last_hidden_state.numpy()

    def compilations(self) -> int | None:
        if self.framework == "jax" and self._fn is not None:
            return int(self._fn._cache_size())
        if self.framework == "tensorflow" and self._fn is not None:
            return int(self._fn.experimental_get_tracing_count())
        return None


def gemm_runner(framework: str, size: int) -> Callable[[], Any]:
    """A blocking `size`-square float32 GEMM in the framework's own kernel (or NumPy's BLAS): the practical limit."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    if framework == "numpy":
        return lambda: a @ b
    if framework == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return lambda: torch.mm(ta, tb)
    if framework == "jax":
        import jax

        dot = jax.jit(lambda x, y: x @ y)
        ja, jb = jax.device_put(a), jax.device_put(b)
        return lambda: dot(ja, jb).block_until_ready()
    import tensorflow as tf

    fa, fb = tf.constant(a), tf.constant(b)
    return lambda: tf.matmul(fa, fb).numpy()


def our_compilations(framework: str, model: Any) -> int | None:
    """Traces of our compiled forward so far (`model.compilations` on JAX and TF); None for eager torch."""
    return int(model.compilations) if framework in ("jax", "tensorflow") else None


def framework_threads(framework: str) -> dict[str, Any]:
    if framework == "torch":
        import torch

        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    if framework == "tensorflow":
        import tensorflow as tf

        return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "default",
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "default"}
    return {"xla_cpu": "default"}
