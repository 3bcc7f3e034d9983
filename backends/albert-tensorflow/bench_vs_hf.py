"""Benchmark: albert-tensorflow vs HF transformers' `TFAlbertModel` under `tf.function`, same weights, same run.

    python backends/albert-tensorflow/bench_vs_hf.py [--batch 8] [--seq 128] [--reps 7] [--preset albert-base-v2]

Random weights of the preset are saved once as an HF folder and loaded by both. Calls alternate (ours, HF,
ours, HF, ...) after warm-up so that load on a shared machine hits both alike; the medians and their ratio
(ours / HF: below 1 means we are faster) are printed. Also reported: ours when traced inside the caller's own
`tf.function` (no host validation), and the trace count of a stream of mixed lengths (bucketing at work).
Needs `transformers<5` with TensorFlow support and torch (HF's TF loader converts the PyTorch-named weights).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import albert_core as ac  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="albert-base-v2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    from transformers import TFAlbertModel

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        ac.save(ac.load(f"random:{args.preset}", backend="numpy", task="base"), folder)
        ours = ac.load(folder, backend="tensorflow", task="base")
        hf = TFAlbertModel.from_pretrained(folder, from_pt=True)
    config = ours.config
    ids = rng.integers(5, config.vocab_size, (args.batch, args.seq)).astype(np.int64)
    mask = np.ones_like(ids)
    ids_t, mask_t = tf.constant(ids), tf.constant(mask)

    hf_fn = tf.function(lambda i, m: hf(input_ids=i, attention_mask=m, training=False).last_hidden_state)
    ours_graph_fn = tf.function(lambda i, m: ours(input_ids=i, attention_mask=m).last_hidden_state)
    runs = {
        "ours (eager call: host validation + cached tf.function)":
            lambda: ours(ids, attention_mask=mask).last_hidden_state.numpy(),
        "ours inside the caller's tf.function": lambda: ours_graph_fn(ids_t, mask_t).numpy(),
        "HF TFAlbertModel under tf.function": lambda: hf_fn(ids_t, mask_t).numpy(),
    }
    a = runs["ours (eager call: host validation + cached tf.function)"]()
    b = runs["HF TFAlbertModel under tf.function"]()
    print(f"max |ours - HF| on last_hidden_state: {np.abs(a - b).max():.2e}")
    for fn in runs.values():
        for _ in range(args.warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.preset} shape, batch {args.batch}x{args.seq}, float32, {len(tf.config.list_logical_devices('CPU'))}"
          f" CPU device(s), TF {tf.__version__}, median of {args.reps} alternating reps")
    for name, value in medians.items():
        print(f"  {name:58s} {value * 1000:9.1f} ms")
    hf_time = medians["HF TFAlbertModel under tf.function"]
    eager_time, graph_time = (medians[name] for name in list(runs)[:2])
    print(f"ratio ours/HF (eager call):  {eager_time / hf_time:.3f}")
    print(f"ratio ours/HF (in tf.function): {graph_time / hf_time:.3f}")

    before = ours.trace_count
    lengths = [int(x) for x in rng.integers(3, args.seq + 1, 20)]
    for length in lengths:
        ours(ids[:1, :length])
    print(f"mixed-length stream: {len(lengths)} calls, {len(set(lengths))} distinct lengths, "
          f"{ours.trace_count - before} new traces (bucket multiple {ours.bucket_multiple})")


if __name__ == "__main__":
    main()
