"""Load: wall time from a model folder to the first output, and peak resident memory, ours vs HF.

One fresh worker process per (framework, implementation), so each peak is its own. The baseline is the
resident size after importing the framework (and, separately, after importing the library: our backend
package or transformers); `peak_rss` is `getrusage(RUSAGE_SELF).ru_maxrss`, the process's high-water mark.
The first output is each library's default call on a 1 x 16 batch: our user-facing call (JIT-compiled on
JAX/TF), HF's model called directly (eager; wrapping it in jit/tf.function is the user's choice).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import peak_rss_bytes, rss_bytes, worker_main
from .frameworks import HFCall, import_framework, import_library, load_hf, load_ours, native_inputs, ours_call


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    framework, impl, folder = args["framework"], args["impl"], Path(args["folder"])
    t0 = time.perf_counter()
    import_framework(framework)
    t1 = time.perf_counter()
    rss_framework = rss_bytes()
    import_library(framework, impl)
    t2 = time.perf_counter()
    rss_library = rss_bytes()
    ids = np.random.default_rng(0).integers(5, 30000, (1, 16))
    ids_n, mask_n = native_inputs(framework, ids, np.ones_like(ids))
    start = time.perf_counter()
    if impl == "ours":
        model = load_ours(framework, folder)
        call = ours_call(framework, model)
    else:
        model = load_hf(framework, folder)
        call = HFCall(framework, model, compiled=False)
    loaded = time.perf_counter()
    out = call(ids_n, mask_n)
    done = time.perf_counter()
    assert np.isfinite(out).all()
    peak = peak_rss_bytes()
    weights = (folder / "model.safetensors").stat().st_size
    return {
        "framework": framework, "impl": impl, "weights_bytes": weights,
        "import_framework_s": t1 - t0, "import_library_s": t2 - t1,
        "load_s": loaded - start, "first_call_s": done - loaded, "folder_to_output_s": done - start,
        "rss_after_framework": rss_framework, "rss_after_library": rss_library, "rss_after_load": rss_bytes(),
        "peak_rss": peak,
        "peak_above_framework": peak - rss_framework, "peak_above_library": peak - rss_library,
        "peak_above_framework_per_weights": (peak - rss_framework) / weights,
        "peak_above_library_per_weights": (peak - rss_library) / weights,
    }


if __name__ == "__main__":
    worker_main(_measure)
