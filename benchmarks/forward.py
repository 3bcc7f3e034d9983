"""Forward time per batch: our backend vs HF's model in the same framework, and our bfloat16 vs our float32.

One worker per framework. Both models load the same weights file; per shape the two calls alternate
(ours, HF, HF, ours, ...) after warm-up so machine drift cancels in the ratio. The batch has one row half
padded, as real batches do. bfloat16 is compared with our float32 the same way.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .common import alternate, summarize, worker_main
from .frameworks import (
    HFCall,
    framework_threads,
    gemm_runner,
    import_framework,
    load_hf,
    load_ours,
    native_inputs,
    ours_call,
)


def make_batch(batch: int, seq: int, vocab: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (batch, seq))
    mask = np.ones_like(ids)
    if batch > 1:
        mask[0, seq // 2:] = 0
    return ids, mask


def _max_diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    keep = mask.astype(bool)  # padded positions' hidden states are not defined alike across implementations
    return float(np.abs(a.astype(np.float32)[keep] - b.astype(np.float32)[keep]).max())


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    framework = args["framework"]
    folder = Path(args["folder"])
    reps, warmup = int(args["reps"]), int(args["warmup"])
    import_framework(framework)
    start = time.perf_counter()
    ours = load_ours(framework, folder)
    hf = load_hf(framework, folder)
    vocab = ours.config.vocab_size
    result: dict[str, Any] = {"framework": framework, "threads": framework_threads(framework),
                              "load_both_s": time.perf_counter() - start, "shapes": [], "bf16": []}
    for batch, seq in args["shapes"]:
        ids, mask = make_batch(batch, seq, vocab)
        ids_n, mask_n = native_inputs(framework, ids, mask)
        ours_fn, hf_fn = ours_call(framework, ours), HFCall(framework, hf)
        runners = {"ours": partial(ours_fn, ids_n, mask_n), "hf": partial(hf_fn, ids_n, mask_n)}
        diff = _max_diff(runners["ours"](), runners["hf"](), mask)  # also the first (compiling) call
        if args.get("gemm_size"):  # the machine's limit, measured in the same rounds under the same load
            for library in (framework, "numpy"):  # the framework's own kernel and NumPy's BLAS; the faster counts
                runners[f"gemm_{library}"] = gemm_runner(library, int(args["gemm_size"]))
                runners[f"gemm_{library}"]()
        # Large shapes: the first (checking) call above is the warm-up; time is the scarce resource.
        times = alternate(runners, reps, warmup if batch * seq <= 1024 else 0)
        ours_s, hf_s = summarize(times["ours"]), summarize(times["hf"])
        ratios = [o / h for o, h in zip(times["ours"], times["hf"])]
        gemm: dict[str, Any] = {}
        if args.get("gemm_size"):
            size = int(args["gemm_size"])
            gemm = {f"{name[5:]}_gflops_best": 2 * size**3 / min(t) / 1e9 for name, t in times.items()
                    if name.startswith("gemm_")}
            gemm.update(size=size, gflops_best=max(gemm.values()))
        result["shapes"].append({
            "batch": batch, "seq": seq, "ours": ours_s, "hf": hf_s, "max_abs_diff": diff, "gemm": gemm,
            "ratio_median": ours_s["median_s"] / hf_s["median_s"],
            "ratio_pairwise_median": float(np.median(ratios)),
            "ratio_best": ours_s["min_s"] / hf_s["min_s"],
        })
    if args.get("bf16_shapes"):
        del hf
        ours_bf16 = load_ours(framework, folder, dtype="bfloat16")
        for batch, seq in args["bf16_shapes"]:
            ids, mask = make_batch(batch, seq, vocab)
            ids_n, mask_n = native_inputs(framework, ids, mask)
            f32_fn, b16_fn = ours_call(framework, ours), ours_call(framework, ours_bf16)
            runners = {"float32": partial(f32_fn, ids_n, mask_n), "bfloat16": partial(b16_fn, ids_n, mask_n)}
            ref, low = runners["float32"](), runners["bfloat16"]()
            rel = float(np.abs(low.astype(np.float32) - ref)[mask.astype(bool)].max() / np.abs(ref).max())
            times = alternate(runners, max(3, reps // 2), warmup)
            f32, b16 = summarize(times["float32"]), summarize(times["bfloat16"])
            result["bf16"].append({"batch": batch, "seq": seq, "float32": f32, "bfloat16": b16,
                                   "ratio_median": b16["median_s"] / f32["median_s"],
                                   "max_rel_diff_vs_float32": rel})
    return result


if __name__ == "__main__":
    worker_main(_measure)
