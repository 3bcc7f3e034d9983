"""Speed of the albert-jax backend vs HF transformers' `FlaxAlbertModel` under `jax.jit`, same weights.

Both run the base model (last hidden state + pooled output) at albert-base-v2 shape on seeded random
weights written once by `albert_core.save` and read by both. Calls alternate (ours, HF, ours, ...) so
machine noise hits both alike; each side reports the median of `--reps` timed calls after warm-up.
`ours` is the user-facing `model(...)` (host validation, bucketing, cached jit); `ours-apply` is
`jax.jit(model.apply)` alone. Prints seconds per batch and the ratio HF / ours (> 1: ours is faster).

    python backends/albert-jax/bench_vs_hf.py --batch 8 --seq 128 --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import jax
import numpy as np

import albert_core as ac


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call; CPU time is steadier on a shared machine."""
    start, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="albert-base-v2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    from transformers import FlaxAlbertModel

    config = ac.AlbertConfig.from_preset(args.preset)
    with tempfile.TemporaryDirectory() as folder:
        ac.save(ac.init_params(config, "base", seed=0), folder, config=config, task="base")
        ours = ac.load(folder, backend="jax", task="base")
        hf = FlaxAlbertModel.from_pretrained(folder, from_pt=True)

    rng = np.random.default_rng(0)
    ids = rng.integers(5, config.vocab_size, (args.batch, args.seq)).astype(np.int32)
    mask = np.ones_like(ids)
    types = np.zeros_like(ids)

    hf_fn = jax.jit(lambda p, i, m, t: hf(i, m, t, params=p, train=False).last_hidden_state)
    apply_fn = jax.jit(lambda p, i, m, t: ours.apply(p, i, m, t).last_hidden_state)
    ids_j, mask_j, types_j = (jax.numpy.asarray(a) for a in (ids, mask, types))
    runs = {
        "ours": lambda: ours(ids, attention_mask=mask, token_type_ids=types).last_hidden_state,
        "ours-apply": lambda: apply_fn(ours.params, ids_j, mask_j, types_j),
        "hf-flax": lambda: hf_fn(hf.params, ids_j, mask_j, types_j),
    }
    ref = np.asarray(runs["hf-flax"]())
    for name, fn in runs.items():
        diff = float(np.abs(np.asarray(fn()) - ref).max())
        print(f"{name:11s} max |diff| vs hf-flax: {diff:.2e}")
    for _ in range(args.warmup):
        for fn in runs.values():
            _timed(fn)
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, fn in runs.items():
            wall, used = _timed(fn)
            times[name].append(wall)
            cpu[name].append(used)
    med = {name: statistics.median(t) for name, t in times.items()}
    med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    print(f"{args.preset} batch {args.batch}x{args.seq} float32 on {jax.devices()[0].platform}, "
          f"jax {jax.__version__}, median of {args.reps}:")
    for name, t in med.items():
        print(f"  {name:11s} {t:.3f} s/batch wall, {med_cpu[name]:.3f} s CPU   "
              f"(wall all: {', '.join(f'{x:.3f}' for x in times[name])})")
    print(f"ratio hf-flax / ours = {med['hf-flax'] / med['ours']:.2f} wall, "
          f"{med_cpu['hf-flax'] / med_cpu['ours']:.2f} CPU  (hf-flax / ours-apply = "
          f"{med['hf-flax'] / med['ours-apply']:.2f} wall); compilations of ours: {ours.compilations}")


if __name__ == "__main__":
    main()
