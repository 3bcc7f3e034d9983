"""Benchmarks against HF transformers and the machine's limit; run `python -m benchmarks` (see docs/performance.md)."""
