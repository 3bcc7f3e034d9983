"""Tokenizer throughput worker: runs `benchmarks/bench_tokenizer.py`'s `run` (ours vs HF fast and slow)."""

from __future__ import annotations

from typing import Any

from .common import worker_main


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    from .bench_tokenizer import run

    return run(sentences=int(args["sentences"]), repeats=int(args["repeats"]))


if __name__ == "__main__":
    worker_main(_measure)
