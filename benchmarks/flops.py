"""FLOPs of an ALBERT forward (counted analytically) and the machine's large float32 matmul rate (measured).

The practical limit of a CPU for a transformer forward is its large-GEMM rate: a forward is mostly GEMMs,
and nothing runs faster than the BLAS kernel on large square matrices. The worker times `size`-square
float32 GEMMs in one library (NumPy's BLAS or torch's) and reports the best of several.
"""

from __future__ import annotations

import time
from typing import Any

from .common import worker_main


def albert_forward_flops(config: Any, batch: int, seq: int) -> int:
    """2*m*n*k for every matmul of `AlbertModel` (embedding projection, per layer Q/K/V/output projections,
    attention scores and context, the FFN, the pooler); elementwise work (softmax, norms, gelu) is not counted."""
    tokens = batch * seq
    hidden, inter = config.hidden_size, config.intermediate_size
    flops = 2 * tokens * config.embedding_size * hidden  # embedding_hidden_mapping_in
    per_layer = (
        4 * 2 * tokens * hidden * hidden  # query, key, value, attention output dense
        + 2 * 2 * batch * seq * seq * hidden  # scores q.k^T and context p.v, summed over heads
        + 2 * 2 * tokens * hidden * inter  # ffn and ffn_output
    )
    flops += config.num_hidden_layers * per_layer
    flops += 2 * batch * hidden * hidden  # pooler on the first token
    return int(flops)


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    library, size, reps = args["library"], int(args["size"]), int(args["reps"])
    if library == "numpy":
        import numpy as np

        rng = np.random.default_rng(0)
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        run = lambda: a @ b  # noqa: E731
        threads = None
    else:
        import torch

        a, b = torch.randn(size, size), torch.randn(size, size)
        run = lambda: torch.mm(a, b)  # noqa: E731
        threads = torch.get_num_threads()
    run()  # warm-up: thread pool start, page faults
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    flops = 2 * size**3
    return {"library": library, "size": size, "threads": threads, "best_s": min(times),
            "gflops_best": flops / min(times) / 1e9, "gflops_all": [round(flops / t / 1e9, 1) for t in times]}


if __name__ == "__main__":
    worker_main(_measure)
