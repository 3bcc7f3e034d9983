"""Shared pieces: the benchmark checkpoints, subprocess workers, timing and memory helpers, machine facts.

Every measurement runs in a fresh `python -m benchmarks.<module> --worker '<json>'` subprocess so that one
framework's thread pool, allocator or import footprint never touches another's numbers; the worker prints
one JSON line prefixed with `RESULT ` that the parent collects.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
WORK_DIR = Path(os.environ.get("ALBERT_BENCH_DIR", "/tmp/albert-bench"))  # weights live here, never in the repo
RESULT_PREFIX = "RESULT "
FRAMEWORKS = ("torch", "jax", "tensorflow")
# Keep transformers from importing the other frameworks inside one framework's worker.
_ONLY_ENV = {
    "torch": {"USE_TF": "0", "USE_FLAX": "0", "USE_TORCH": "1"},
    "jax": {"USE_TF": "0", "USE_FLAX": "1"},
    "tensorflow": {"USE_TF": "1", "USE_FLAX": "0"},
    None: {},
    "none": {"USE_TF": "0", "USE_FLAX": "0", "USE_TORCH": "0"},
}


def checkpoint_folder(preset: str) -> Path:
    """An HF-layout folder of seeded random float32 weights in `preset`'s shape, written once and reused."""
    folder = WORK_DIR / preset
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        return folder
    import albert_core as ac

    config = ac.AlbertConfig.from_preset(preset)
    tmp = WORK_DIR / f".{preset}.partial"
    tmp.mkdir(parents=True, exist_ok=True)
    ac.save(ac.init_params(config, "base", seed=0), tmp, config=config, task="base")
    tmp.rename(folder)
    return folder


def run_worker(module: str, args: dict[str, Any], *, framework: str | None, timeout: float) -> dict[str, Any]:
    """Run `benchmarks.<module>` as a worker subprocess; returns its JSON result or {"error": ...}."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TOKENIZERS_PARALLELISM="false", **_ONLY_ENV[framework])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", f"benchmarks.{module}", "--worker", json.dumps(args)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "args": args}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            result["subprocess_s"] = round(time.perf_counter() - start, 2)
            return result
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    return {"error": f"exit status {proc.returncode}: {tail}", "args": args}


def worker_main(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Entry point of a worker module: parse `--worker JSON`, measure, print the result line."""
    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        raise SystemExit(f"usage: python -m {sys.argv[0]} --worker '<json arguments>' (run by python -m benchmarks)")
    result = measure(json.loads(sys.argv[2]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def warm_page_cache(path: Path) -> None:
    """Read a file once so that the next reader finds it in the page cache, whoever runs first."""
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def median_run(runs: list[dict[str, Any]], key: str = "folder_to_output_s") -> dict[str, Any]:
    """The run with the median `key` (the lower middle one for an even count), plus every run's `key` value;
    a failed run is returned as is."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[(len(ordered) - 1) // 2], f"{key}_runs": [round(r[key], 3) for r in runs]}


def summarize(samples: list[float]) -> dict[str, Any]:
    """Median, best, and spread (interquartile range relative to the median) of timing samples in seconds."""
    ordered = sorted(samples)
    median = statistics.median(ordered)
    q1, q3 = (np.percentile(ordered, [25, 75]) if len(ordered) > 1 else (ordered[0], ordered[0]))
    return {"median_s": median, "min_s": ordered[0], "max_s": ordered[-1], "iqr_rel": float((q3 - q1) / median),
            "samples_s": [round(s, 5) for s in samples]}


def alternate(runners: dict[str, Callable[[], Any]], reps: int, warmup: int) -> dict[str, list[float]]:
    """Time each runner `reps` times, round-robin (a, b, a, b, ...), after `warmup` untimed rounds.

    Alternating within one process makes slow phases of a shared machine hit every runner alike, so
    their ratio is steadier than either time. Each runner must block until its result is computed."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for rep in range(reps):
        order = list(runners.items())
        if rep % 2:  # also alternate who goes first, so cache/turbo effects of going first cancel
            order.reverse()
        for name, run in order:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def machine_info() -> dict[str, Any]:
    """CPU model, cores, bf16 capabilities, load average, memory, Python and library versions."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    versions = {}
    from importlib import metadata

    for dist in ("albert-core", "albert-torch", "albert-jax", "albert-tensorflow", "numpy", "torch", "jax", "jaxlib",
                 "flax", "tensorflow", "tensorflow-cpu", "tf-keras", "transformers", "sentencepiece"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "bf16": {"avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
                 "avx512f": "avx512f" in flags, "avx2": "avx2" in flags},
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "memory_bytes": mem_total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }
