"""First-call (trace + compile) time of the compiled backends, and recompilations over mixed lengths.

For JAX and TensorFlow: the first call at one shape (tracing and compiling included) against the next
call at that shape (compiled), ours vs HF's jitted / tf.function model; then a stream of batches with
random sequence lengths, counting how many times each side compiles. Ours pads lengths to a bucket (a
multiple of 32), so the stream compiles at most once per bucket; HF's compiled function retraces per
distinct length.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import worker_main
from .forward import make_batch
from .frameworks import HFCall, import_framework, load_hf, load_ours, native_inputs, our_compilations, ours_call


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    framework, folder = args["framework"], Path(args["folder"])
    batch, seq = args["shape"]
    import_framework(framework)
    ours = load_ours(framework, folder)
    hf = load_hf(framework, folder)
    ours_fn, hf_fn = ours_call(framework, ours), HFCall(framework, hf)
    ids, mask = native_inputs(framework, *make_batch(batch, seq, ours.config.vocab_size))
    result: dict[str, Any] = {"framework": framework, "batch": batch, "seq": seq}
    for name, fn in (("ours", ours_fn), ("hf", hf_fn)):
        first = _timed(lambda fn=fn: fn(ids, mask))
        second = _timed(lambda fn=fn: fn(ids, mask))
        result[name] = {"first_call_s": first, "second_call_s": second, "compile_overhead_s": first - second}

    rng = np.random.default_rng(1)
    lengths = [int(n) for n in rng.integers(args["min_len"], args["max_len"] + 1, args["stream"])]
    stream = [native_inputs(framework, *make_batch(args["stream_batch"], n, ours.config.vocab_size, seed=i))
              for i, n in enumerate(lengths)]
    result["stream"] = {"batches": len(lengths), "batch": args["stream_batch"], "distinct_lengths": len(set(lengths)),
                        "min_len": args["min_len"], "max_len": args["max_len"],
                        "bucket_multiple": getattr(ours, "bucket_multiple", None)}
    for name, fn, count in (("ours", ours_fn, lambda: our_compilations(framework, ours)),
                            ("hf", hf_fn, hf_fn.compilations)):
        before = count()
        start = time.perf_counter()
        for s_ids, s_mask in stream:
            fn(s_ids, s_mask)
        result["stream"][name] = {"compilations": count() - before, "total_s": time.perf_counter() - start}
    return result


if __name__ == "__main__":
    worker_main(_measure)
