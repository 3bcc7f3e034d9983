"""Batch inference on Ray Data against the same pipeline without Ray: `albert run` over one JSON-lines file of
real sentences (the standard library's docstrings), in this process, and `albert run --engine ray` on a local
cluster with 1 and with 2 single-CPU actors; rows per second of each (median of alternated rounds after one
warm-up, which also starts the actors' cluster). The model is a seeded random albert-base-v2 on the torch backend
(feature-extraction, mean pooling): what runs is the real cost of a base-size model per row.

On one 2-core machine the engine can only add overhead (starting actors, moving batches through the object
store); the ratio says how much. On a cluster, actors run on other machines: rows/s grows with the actors until
the driver, which reads the input and writes the ordered output, is the bottleneck (docs/scaling.md).
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from .common import worker_main


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    import ray

    from albert_core.cli import main
    from albert_core.pretraining.sample_corpus import documents

    root = Path(tempfile.mkdtemp(prefix="albert-bench-ray-"))
    sentences = [s for doc in documents() for s in doc][: args["rows"]]
    source = root / "in.jsonl"
    source.write_text("".join(json.dumps(s) + "\n" for s in sentences), encoding="utf-8")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    common = ["run", "--task", "feature-extraction", "--model", "random:albert-base-v2", "--tokenizer",
              args["tokenizer"], "--backend", args["backend"], "--max-length", "128", "--batch-size", "16",
              "--input", str(source), "--no-progress", "--options", '{"pooling": "mean"}']
    runs = {"albert_run": [], "ray_1_actor": ["--engine", "ray", "--num-workers", "1"],
            "ray_2_actors": ["--engine", "ray", "--num-workers", "2", "--cpus-per-worker", "0.5"]}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(args["rounds"] + 1):  # round 0: warm-up
        for name in (list(runs) if round_ % 2 == 0 else list(reversed(runs))):
            start = time.perf_counter()
            with redirect_stdout(io.StringIO()):
                assert main([*common, "--output", str(root / f"{name}.jsonl"), *runs[name]]) == 0
            if round_:
                times[name].append(time.perf_counter() - start)
    rows = len(sentences)
    out = {name: {"seconds": t, "rows_per_s": rows / float(np.median(t))} for name, t in times.items()}
    base = out["albert_run"]["rows_per_s"]
    return {"rows": rows, "backend": args["backend"], **out,
            "ratio_to_albert_run": {name: out[name]["rows_per_s"] / base for name in runs}}


if __name__ == "__main__":
    worker_main(_measure)
