"""Running model cases on a backend, and the golden files they are compared with.

A golden file (`goldens/<case>.npz`) holds the config, task, seed, a digest of the regenerated weights, the
inputs, and every output of the NumPy reference in float64. Regenerate them only with `nox -s golden`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import albert_core
from albert_core import Checkpoint
from albert_core.model import OUTPUT_FIELDS

from .cases import ModelCase, case_weights, model_case, weights_digest
from .compare import Mismatch, assert_close
from .tolerances import tolerance

GOLDEN_DIR = Path(__file__).resolve().parent / "goldens"
REGENERATE = "regenerate them with `nox -s golden` if the change is intended"


def load_case_model(case: ModelCase, backend: str, dtype: str = "float32", **load_kwargs: Any) -> Any:
    """The case's model on `backend`, loaded through `albert_core.load` like a user would."""
    config = case.build_config()
    weights = case_weights(config, case.task, case.seed)
    if dtype != "float64":
        weights = {k: v.astype(np.float32) for k, v in weights.items()}  # what a safetensors file holds
    return albert_core.load(Checkpoint(config, weights, source=f"conformance:{case.name}"), backend=backend,
                            task=case.task, dtype=dtype, **load_kwargs)


def output_arrays(ops: Any, out: Any) -> dict[str, np.ndarray]:
    """Every output field as host arrays: `logits`, `hidden_states.0`, ... (absent fields are left out)."""
    arrays = {}
    for name in OUTPUT_FIELDS:
        value = out.get(name) if isinstance(out, Mapping) else getattr(out, name, None)
        if value is None:
            continue
        if isinstance(value, (tuple, list)):
            for n, item in enumerate(value):
                arrays[f"{name}.{n}"] = np.asarray(ops.to_numpy(item))
        else:
            arrays[name] = np.asarray(ops.to_numpy(value))
    return arrays


def run_case(model: Any, ops: Any, case: ModelCase, inputs: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    inputs = case.build_inputs() if inputs is None else inputs
    return output_arrays(ops, model(**inputs, **case.flags))


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.npz"


def write_golden(case: ModelCase) -> Path:
    """Compute `case` on the NumPy reference in float64 and store it."""
    model = load_case_model(case, "numpy", "float64")
    inputs = case.build_inputs()
    outputs = run_case(model, model.ops, case, inputs)
    config = case.build_config()
    meta = dict(task=case.task, seed=case.seed, flags=case.flags, config=config.to_dict(),
                weights_digest=weights_digest(case_weights(config, case.task, case.seed)))
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    path = golden_path(case.name)
    np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)),
                        **{f"input.{k}": v for k, v in inputs.items()},
                        **{f"output.{k}": v.astype(np.float64) for k, v in outputs.items()})
    return path


def read_golden(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    path = golden_path(name)
    if not path.is_file():
        raise Mismatch(f"golden file {path} is missing; {REGENERATE}")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        inputs = {k[len("input."):]: data[k] for k in data.files if k.startswith("input.")}
        outputs = {k[len("output."):]: data[k] for k in data.files if k.startswith("output.")}
    return meta, inputs, outputs


def check_golden_is_current(case: ModelCase) -> None:
    """The golden was made from this case's config, task, seed, flags, inputs and weights."""
    meta, inputs, _ = read_golden(case.name)
    config = case.build_config()
    now = dict(task=case.task, seed=case.seed, flags=case.flags, config=config.to_dict(),
               weights_digest=weights_digest(case_weights(config, case.task, case.seed)))
    stale = [k for k in now if json.loads(json.dumps(now[k], sort_keys=True)) != meta.get(k)]
    fresh_inputs = case.build_inputs()
    if set(fresh_inputs) != set(inputs) or any(not np.array_equal(fresh_inputs[k], inputs[k]) for k in inputs):
        stale.append("inputs")
    if stale:
        raise Mismatch(f"golden {case.name!r} is out of date ({', '.join(stale)} changed); {REGENERATE}")


def check_golden(backend: str, case_name: str, dtype: str = "float32") -> None:
    """Run the named case on `backend` in `dtype` and compare every output with the golden file."""
    case = model_case(case_name)
    meta, inputs, expected = read_golden(case_name)
    model = load_case_model(case, backend, dtype)
    ops = albert_core.get_backend(backend).ops
    got = run_case(model, ops, case, inputs)
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or extra:
        raise Mismatch(f"golden {case_name!r} on backend {backend!r}: output fields differ from the reference: "
                       f"missing {missing}, unexpected {extra}")
    tol = tolerance(dtype, "model")
    for key in expected:
        assert_close(got[key], expected[key], tol, f"golden {case_name!r} ({case.task}) on {backend!r} in "
                                                   f"{dtype}: output {key!r}")
