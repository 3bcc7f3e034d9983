"""Gradient checks for training-capable backends, against finite differences of the NumPy float64 loss.

The core has no framework-neutral autodiff, so a backend that declares `supports_training = True` provides

    Backend.loss_and_grads(model, inputs: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]

for a model loaded with `trainable=True`: the loss of `model(**inputs)` (inputs include the labels; dropout
off, i.e. the eval-mode forward) and its gradient with respect to every parameter, keyed by HF name, as
host arrays. The suite probes a few coordinates of every parameter with central differences of the
reference loss in float64, which are accurate to ~1e-9 here.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from albert_core.inputs import prepare_inputs
from albert_core.layout import param_table
from albert_core.model import forward
from albert_core.numpy_backend import NumpyOps

from .cases import ModelCase, case_weights
from .compare import Mismatch, assert_close
from .tolerances import tolerance

GRAD_METHOD = "loss_and_grads"
# Model cases with labels, one per loss the model computes.
TRAINING_CASES = [
    "pretraining-gelu_new-relative_key", "masked-lm-relu-relative_key_query-embedding-equals-hidden",
    "sequence-classification-silu-single-label", "sequence-classification-tanh-regression",
    "sequence-classification-swish-multi-label", "token-classification-gelu_pytorch_tanh",
    "question-answering-gelu-relative_key", "multiple-choice-gelu_new",
]
_REF = NumpyOps()


def reference_loss(case: ModelCase, params: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> float:
    config = case.build_config()
    arrays = prepare_inputs(config, case.task, np.asarray, **inputs)
    return float(forward(_REF, config, case.task, params, **arrays).loss)


def finite_difference(case: ModelCase, params: dict[str, np.ndarray], inputs: dict[str, np.ndarray], name: str,
                      index: tuple[int, ...], eps: float = 1e-6) -> float:
    """Central difference of the float64 reference loss in one coordinate of one parameter."""
    value = params[name][index]
    shifted = {**params, name: params[name].copy()}
    shifted[name][index] = value + eps
    up = reference_loss(case, shifted, inputs)
    shifted[name][index] = value - eps
    down = reference_loss(case, shifted, inputs)
    return (up - down) / (2 * eps)


def probes(name: str, grad: np.ndarray) -> list[tuple[int, ...]]:
    """Where to probe a parameter: its largest gradient, and one coordinate chosen by a seeded draw."""
    largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(grad))), grad.shape))
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    drawn = tuple(int(rng.integers(0, n)) for n in grad.shape)
    return [largest] if drawn == largest else [largest, drawn]


def check_gradients(backend: Any, backend_name: str, case: ModelCase, load: Any) -> None:
    """Compare `backend.loss_and_grads` with the reference loss and finite differences; raises `Mismatch`."""
    method = getattr(backend, GRAD_METHOD, None)
    if not callable(method):
        raise Mismatch(f"backend {backend_name!r} declares supports_training but has no {GRAD_METHOD}(model, "
                       "inputs) -> (loss, {name: grad}) method, so its gradients cannot be checked")
    config = case.build_config()
    params = case_weights(config, case.task, case.seed)
    inputs = case.build_inputs()
    model = load(case, backend_name, "float32", trainable=True)
    loss, grads = method(model, inputs)
    want = reference_loss(case, params, inputs)
    assert_close(float(loss), want, tolerance("float32", "model"), f"{case.name}: training loss")
    names = {s.name for s in param_table(config, case.task)}
    if set(grads) != names:
        raise Mismatch(f"{case.name}: gradients for {sorted(set(grads) ^ names)} are missing or unexpected")
    tol = tolerance("float32", "grad")
    for name in sorted(names):
        grad = np.asarray(grads[name], dtype=np.float64)
        if grad.shape != params[name].shape:
            raise Mismatch(f"{case.name}: gradient of {name} has shape {grad.shape}, parameter {params[name].shape}")
        for index in probes(name, grad):
            expected = finite_difference(case, params, inputs, name, index)
            assert_close(grad[index], expected, tol, f"{case.name}: d loss / d {name}{list(index)}")
