"""Side-by-side speed of the albert-torch backend and HF transformers' `AlbertModel` (sdpa), same weights.

Both models get the same random albert-base-v2-shaped weights (saved by HF, loaded by albert-core), run
inference under `torch.inference_mode()` on the same batch, alternating one call each so that machine load
hits both alike; the script prints each side's median seconds per batch and the ratio ours / HF (< 1 means
we are faster). Usage: python bench_vs_hf.py [--batch 8] [--seq 128] [--reps 7] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch

os.environ.setdefault("USE_TF", "0")  # keep transformers from importing TensorFlow/Flax alongside torch
os.environ.setdefault("USE_FLAX", "0")

def build_pair(folder: str, seed: int = 0):
    from transformers import AlbertConfig, AlbertModel

    import albert_core

    cfg = AlbertConfig(vocab_size=30000, embedding_size=128, hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072, hidden_act="gelu_new",
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                       attn_implementation="sdpa")
    torch.manual_seed(seed)
    hf = AlbertModel(cfg).eval()
    assert hf.config._attn_implementation == "sdpa", hf.config._attn_implementation
    hf.save_pretrained(folder, safe_serialization=True)
    ours = albert_core.load(folder, backend="torch", task="base")
    return hf, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as folder:
        hf, ours = build_pair(folder)
    rng = np.random.default_rng(0)
    ids = torch.from_numpy(rng.integers(5, 30000, (args.batch, args.seq)))
    mask = torch.ones_like(ids)
    mask[0, args.seq // 2:] = 0  # one padded row, as real batches have

    runners = {
        "albert-torch": lambda: ours(ids, attention_mask=mask).last_hidden_state,
        "hf-sdpa": lambda: hf(input_ids=ids, attention_mask=mask).last_hidden_state,
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.inference_mode():
        diff = (runners["albert-torch"]() - runners["hf-sdpa"]())[:, : args.seq // 2].abs().max().item()
        for _ in range(args.reps):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"shape {args.batch}x{args.seq}, float32, threads {torch.get_num_threads()}, reps {args.reps}, "
          f"max |diff| {diff:.2e}")
    for name, m in med.items():
        print(f"  {name:13s} median {m * 1e3:8.1f} ms   (min {min(times[name]) * 1e3:8.1f} ms)")
    print(f"ratio albert-torch / hf-sdpa: {med['albert-torch'] / med['hf-sdpa']:.3f}")


if __name__ == "__main__":
    main()
