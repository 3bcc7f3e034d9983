"""Benchmarks: every backend against HF's implementation in its framework, and against the machine's limit.

    python -m benchmarks [--quick] [--only forward,bf16,flops,train,pretrain,load,compile,tokenizer,ray,onnx]
                         [--out ...]
    python -m benchmarks --render benchmarks/results/results.json   # re-render the Markdown and plot only

Writes `results.json`, `results.md` and `forward.png` under `--out` (default: benchmarks/results for a full
run, /tmp/albert-bench/results-quick with --quick). Random weights in the official shapes are written once
under /tmp/albert-bench (ALBERT_BENCH_DIR), never into the repository. Each measurement runs in its own
subprocess; see docs/performance.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .common import (
    FRAMEWORKS,
    REPO_ROOT,
    WORK_DIR,
    checkpoint_folder,
    machine_info,
    median_run,
    run_worker,
    warm_page_cache,
)
from .report import write_reports

SPIECE = REPO_ROOT.parent / "shared/assets/albert-30k/spiece.model"  # the official vocabulary, for the data builder
SECTIONS = ("flops", "forward", "bf16", "train", "pretrain", "load", "compile", "tokenizer", "ray", "onnx")
FULL = {
    "forward_preset": "albert-base-v2",
    "shapes": {"1x128": ([1, 128], 31), "8x128": ([8, 128], 15), "8x512": ([8, 512], 7)},  # shape, timed reps
    "warmup": 1,
    "bf16_shapes": [[8, 128]],
    "gemm": {"size": 4096, "reps": 5},
    "load_preset": "albert-xxlarge-v2",
    "load_rounds": 3,  # each round runs ours and HF once, in alternating order
    "compile_shape": [8, 128],
    "stream": {"stream": 50, "stream_batch": 1, "min_len": 5, "max_len": 128},
    "tokenizer": {"sentences": 10_000, "repeats": 5},
    "train": {"shape": [8, 128], "reps": 7, "warmup": 2, "memory_shape": [8, 512]},
    "pretrain": {"shape": [8, 128], "reps": 5, "warmup": 2, "data": {"max_seq_length": 128, "dupe_factor": 4,
                                                                     "rounds": 2}},
    "ray": {"rows": 256, "rounds": 2},
    "onnx": {"shapes": [[1, 128, 31], [8, 128, 15], [8, 512, 5]], "warmup": 1},  # batch, sequence, timed rounds
}
QUICK = {
    "forward_preset": "albert-base-v2",
    "shapes": {"1x32": ([1, 32], 3), "2x64": ([2, 64], 3)},
    "warmup": 1,
    "bf16_shapes": [[2, 64]],
    "gemm": {"size": 2048, "reps": 3},
    "load_preset": "albert-base-v2",
    "load_rounds": 1,
    "compile_shape": [2, 64],
    "stream": {"stream": 8, "stream_batch": 1, "min_len": 5, "max_len": 64},
    "tokenizer": {"sentences": 1000, "repeats": 2},
    "train": {"shape": [2, 64], "reps": 2, "warmup": 1, "memory_shape": [2, 128]},
    "pretrain": {"shape": [2, 64], "reps": 2, "warmup": 1, "data": {"max_seq_length": 64, "dupe_factor": 1,
                                                                    "rounds": 1}},
    "ray": {"rows": 64, "rounds": 1},
    "onnx": {"shapes": [[1, 32, 3], [2, 64, 3]], "warmup": 1},
}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _run_forward(plan: dict[str, Any], sections: set[str], frameworks: list[str]) -> dict[str, Any]:
    folder = checkpoint_folder(plan["forward_preset"])
    out = {}
    for framework in frameworks:
        runs = []
        # One worker per shape group with equal reps keeps each worker short; all workers load the same file.
        for label, (shape, reps) in plan["shapes"].items():
            args = {"framework": framework, "folder": str(folder), "shapes": [shape], "reps": reps,
                    "warmup": plan["warmup"], "bf16_shapes": [], "gemm_size": plan["gemm"]["size"]}
            if "bf16" in sections and shape in plan["bf16_shapes"]:
                args["bf16_shapes"] = [shape]
            if "forward" not in sections:
                args["shapes"] = []
                if not args["bf16_shapes"]:
                    continue
            _log(f"forward {framework} {label}{' + bfloat16' if args['bf16_shapes'] else ''}")
            runs.append(run_worker("forward", args, framework=framework, timeout=900))
            if "error" in runs[-1]:
                _log(f"  failed: {runs[-1]['error'][-300:]}")
        merged: dict[str, Any] = {"framework": framework, "shapes": [], "bf16": [], "errors": []}
        for r in runs:
            if "error" in r:
                merged["errors"].append(r["error"])
                continue
            merged["shapes"] += r["shapes"]
            merged["bf16"] += r["bf16"]
            merged["threads"] = r["threads"]
        out[framework] = merged
    return out


def _run_train(plan: dict[str, Any], frameworks: list[str]) -> dict[str, Any]:
    folder, train = checkpoint_folder(plan["forward_preset"]), plan["train"]
    out: dict[str, Any] = {"time": {}, "memory": {}}
    for framework in frameworks:
        _log(f"train step {framework} {train['shape']}")
        out["time"][framework] = run_worker("train", {"framework": framework, "folder": str(folder),
                                                      "shape": train["shape"], "reps": train["reps"],
                                                      "warmup": train["warmup"]}, framework=framework, timeout=1800)
        out["memory"][framework] = {}
        for label, checkpointing in (("off", False), ("on", True)):  # each in its own process: peak RSS is per process
            _log(f"train step memory {framework} {train['memory_shape']} gradient checkpointing {label}")
            out["memory"][framework][label] = run_worker(
                "train", {"framework": framework, "folder": str(folder), "shape": train["memory_shape"],
                          "memory": True, "gradient_checkpointing": checkpointing}, framework=framework, timeout=1800)
    return out


def _run_pretrain(plan: dict[str, Any], frameworks: list[str]) -> dict[str, Any]:
    folder, pre = checkpoint_folder(plan["forward_preset"]), plan["pretrain"]
    out: dict[str, Any] = {"time": {}}
    for framework in frameworks:
        _log(f"pretraining step {framework} {pre['shape']}")
        out["time"][framework] = run_worker("pretrain", {"framework": framework, "folder": str(folder),
                                                         "shape": pre["shape"], "reps": pre["reps"],
                                                         "warmup": pre["warmup"]}, framework=framework, timeout=1800)
    _log("pretraining data builder, one process vs every core")
    out["data"] = run_worker("pretrain", {"data": True, "tokenizer": str(SPIECE), **pre["data"]}, framework=None,
                             timeout=1800)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes and few repetitions (development)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset of backends")
    parser.add_argument("--out", type=Path, default=None, help="folder for results.json, results.md, forward.png")
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="measure nothing: re-render results.md and forward.png next to an existing results.json")
    args = parser.parse_args(argv)
    if args.render is not None:
        print(write_reports(json.loads(args.render.read_text(encoding="utf-8")), args.render.parent))
        return 0
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if set(frameworks) - set(FRAMEWORKS):
        parser.error(f"--frameworks: choose from {', '.join(FRAMEWORKS)}, got {frameworks}")
    plan = QUICK if args.quick else FULL
    out_dir = args.out or (WORK_DIR / "results-quick" if args.quick else REPO_ROOT / "benchmarks/results")

    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "plan": plan, "machine": machine_info(),
                               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    _log(f"machine: {results['machine']['cpu_model']}, load average {results['machine']['load_average_1_5_15']}")
    if "flops" in sections:
        results["gemm"] = {}
        for library in ("numpy", "torch"):
            _log(f"gemm {library} {plan['gemm']['size']}^2")
            results["gemm"][library] = run_worker("flops", {"library": library, **plan["gemm"]},
                                                  framework="torch" if library == "torch" else None, timeout=600)
    if sections & {"forward", "bf16"}:
        results["forward"] = _run_forward(plan, sections, frameworks)
    if "train" in sections:
        results["train"] = _run_train(plan, frameworks)
    if "pretrain" in sections:
        results["pretrain"] = _run_pretrain(plan, frameworks)
    if "load" in sections:
        folder = checkpoint_folder(plan["load_preset"])
        weights = (folder / "model.safetensors").stat().st_size
        results["load"] = {"preset": plan["load_preset"], "weights_bytes": weights, "rounds": plan["load_rounds"],
                           "cases": []}
        for framework in frameworks:
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "hf": []}
            for round_ in range(plan["load_rounds"]):
                for impl in ("ours", "hf") if round_ % 2 == 0 else ("hf", "ours"):
                    _log(f"load {plan['load_preset']} {framework} {impl} (round {round_ + 1})")
                    warm_page_cache(folder / "model.safetensors")  # both start from a file in the page cache
                    runs[impl].append(run_worker("load", {"framework": framework, "impl": impl, "folder": str(folder)},
                                                 framework=framework, timeout=900))
            for impl, impl_runs in runs.items():
                results["load"]["cases"].append({"framework": framework, "impl": impl, **median_run(impl_runs)})
    if "compile" in sections:
        folder = checkpoint_folder(plan["forward_preset"])
        results["compile"] = {}
        for framework in [f for f in frameworks if f != "torch"]:
            _log(f"compile {framework}")
            results["compile"][framework] = run_worker(
                "compile", {"framework": framework, "folder": str(folder), "shape": plan["compile_shape"],
                            **plan["stream"]}, framework=framework, timeout=900)
    if "tokenizer" in sections:
        _log("tokenizer")
        results["tokenizer"] = run_worker("tokenizer", plan["tokenizer"], framework="none", timeout=900)
    if "ray" in sections:
        _log("batch inference: albert run vs --engine ray (local cluster)")
        results["ray"] = run_worker("ray_inference", {"tokenizer": str(SPIECE), "backend": "torch", **plan["ray"]},
                                    framework="torch", timeout=1800)
    if "onnx" in sections:
        _log("onnxruntime: our exported graph vs HF's through torch.onnx.export, with and without ORT's optimizer")
        results["onnx"] = run_worker("onnx_inference", {"folder": str(checkpoint_folder(plan["forward_preset"])),
                                                        **plan["onnx"]}, framework="torch", timeout=3600)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    markdown = write_reports(results, out_dir)
    print(markdown)
    _log(f"wrote {out_dir}/results.json, results.md, forward.png in {results['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
