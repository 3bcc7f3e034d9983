"""`albert compare` and `albert backends`: the same inputs on every installed backend, against the NumPy oracle."""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..api import load
from ..errors import AlbertError
from ..plugins import get_backend, manager
from ..tasks import task_spec

SKIPPED_FIELDS = ("loss", "hidden_states", "attentions")


def _version(distribution: str | None) -> str | None:
    if not distribution:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def framework_version(import_name: str) -> str | None:
    """Version of the distribution that provides `import_name` (tensorflow may be tensorflow-cpu), no import."""
    names = importlib.metadata.packages_distributions().get(import_name, []) or [import_name]
    for dist in names:
        found = _version(dist)
        if found:
            return f"{dist} {found}"
    return None


def backend_rows() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One row per registered backend (no framework is imported), and the plugins that failed to load."""
    rows = []
    for name in manager.backends.names():
        reg = manager.backends.registration(name)
        dist = reg.distribution or manager.plugin_dists.get(reg.plugin, "").split(" ")[0] or None
        framework = reg.framework or "numpy"
        installed = reg.framework_installed()
        hint = reg.install_hint or f"pip install {reg.distribution or reg.framework}"
        rows.append({
            "backend": name, "distribution": dist, "version": _version(dist),
            "framework": framework_version(framework) or framework, "plugin": reg.plugin,
            "status": "ok" if installed else f"{reg.framework} is not installed: {hint}",
        })
    return rows, dict(manager.failures)


@dataclass
class CompareRow:
    backend: str
    dtype: str
    status: str = "ok"
    diffs: dict[str, float] = field(default_factory=dict)
    first_call_ms: float | None = None
    steady_ms: float | None = None
    load_ms: float | None = None


def make_inputs(vocab_size: int, batch: int, seq: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded ids with [CLS]/[SEP], two segments, and padding in the last row (so masking is exercised)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 2, 3
    mask = np.ones((batch, seq), np.int64)
    types = np.zeros((batch, seq), np.int64)
    types[:, seq // 2:] = 1
    if batch > 1 and seq > 4:
        mask[-1, -(seq // 4):] = 0
        ids[-1, -(seq // 4):] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _host_outputs(to_numpy, out) -> dict[str, np.ndarray]:
    return {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in out.items()
            if k not in SKIPPED_FIELDS and v is not None}


def _measure(checkpoint: Any, name: str, dtype: str, inputs: dict[str, np.ndarray], reps: int,
             common: dict[str, Any]) -> tuple[str, dict[str, np.ndarray], float | None, float | None, float | None]:
    """(status, host outputs, load ms, first-call ms, steady ms) of one backend; runs in its own process."""
    try:
        ops = get_backend(name).ops
        started = time.perf_counter()
        model = load(checkpoint, backend=name, dtype=dtype, **common)
        load_ms = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        host = _host_outputs(ops.to_numpy, model(**inputs))  # to_numpy waits for asynchronous backends
        first_ms = (time.perf_counter() - started) * 1e3
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            _host_outputs(ops.to_numpy, model(**inputs))
            times.append((time.perf_counter() - started) * 1e3)
        return "ok", host, load_ms, first_ms, (statistics.median(times) if times else None)
    except AlbertError as exc:
        return f"error: {exc}", {}, None, None, None
    except Exception as exc:  # a backend bug must not hide the other backends' rows
        return f"error: {type(exc).__name__}: {exc}", {}, None, None, None


def run_compare(checkpoint: Any, task: str, backends: list[str], *, dtype: str, batch: int, seq: int, reps: int,
                seed: int, init_missing_heads: bool) -> tuple[dict[str, np.ndarray], list[CompareRow]]:
    """Reference outputs (NumPy, float64) and one timed row per backend; a failing backend fails only its row.

    Each backend runs in a fresh process: frameworks loaded side by side fight over the cores with their
    thread pools (measured: torch 2x slower next to JAX and TensorFlow), which would make the times lie."""
    cfg = checkpoint.config
    inputs = make_inputs(cfg.vocab_size, batch, seq, seed)
    if task_spec(task).choices:
        inputs = {k: np.stack([v, v[::-1]], axis=1) for k, v in inputs.items()}  # (batch, 2 choices, seq)
    common = dict(task=task, init_missing_heads=init_missing_heads, seed=seed)
    reference_model = load(checkpoint, backend="numpy", dtype="float64", **common)
    reference = _host_outputs(lambda x: x, reference_model(**inputs))
    del reference_model
    rows = []
    spawn = multiprocessing.get_context("spawn")
    for name in backends:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            try:
                status, host, load_ms, first_ms, steady_ms = pool.submit(
                    _measure, checkpoint, name, dtype, inputs, reps, common).result()
            except Exception as exc:  # the worker died (e.g. a framework crashed the process)
                status, host, load_ms, first_ms, steady_ms = f"error: {type(exc).__name__}: {exc}", {}, None, None, None
        row = CompareRow(name, dtype, status, first_call_ms=first_ms, steady_ms=steady_ms, load_ms=load_ms)
        if status == "ok":
            row.diffs = {k: float(np.max(np.abs(host[k] - reference[k]))) if k in host else float("nan")
                         for k in reference}
        rows.append(row)
    return reference, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare_table(reference: dict[str, np.ndarray], rows: list[CompareRow]) -> str:
    fields = list(reference)
    header = ["backend", "dtype", *[f"max|diff| {f}" for f in fields], "load", "first call", "steady/batch"]
    body = []
    for r in rows:
        if r.status != "ok":
            body.append([r.backend, r.dtype, r.status])
            continue
        body.append([r.backend, r.dtype, *[f"{r.diffs[f]:.2e}" for f in fields], f"{r.load_ms:.0f} ms",
                     f"{r.first_call_ms:.1f} ms", f"{r.steady_ms:.1f} ms" if r.steady_ms is not None else "-"])
    width = len(header)
    return format_table(header, [row + [""] * (width - len(row)) if len(row) < width else row for row in body])
