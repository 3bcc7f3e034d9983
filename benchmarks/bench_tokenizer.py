"""Tokenizer throughput: albert_core.AlbertTokenizer vs HF's AlbertTokenizerFast (Rust) and slow AlbertTokenizer.

Input: 10,000 real English sentences split from the docstrings of Python's standard library (the machine has no
internet), deduplicated. Each tokenizer encodes the whole batch with padding="max_length", truncation and
max_length=128 into NumPy arrays; the median of several repetitions is reported, plus id agreement with HF's slow
tokenizer (the reference).

    python benchmarks/bench_tokenizer.py [--sentences 10000] [--repeats 5] [--json out.json]

Needs ``transformers<5`` (and ``sentencepiece``); not a timed test.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import pkgutil
import platform
import re
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT.parent / "shared/assets/albert-30k/spiece.model"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# Modules whose import has side effects (opening windows, printing, starting things) or is slow.
_SKIP_MODULES = {
    "antigravity",
    "this",
    "idlelib",
    "turtledemo",
    "tkinter",
    "turtle",
    "test",
    "lib2to3",
    "ensurepip",
    "venv",
    "pydoc_data",
    "__main__",
    "xxsubtype",
    "msilib",
    "winreg",
    "winsound",
    "_msi",
}


def _stdlib_module_names() -> list[str]:
    """Top-level stdlib modules plus the submodules of stdlib packages (email.*, xml.*, http.*...)."""
    names: set[str] = set()
    for info in pkgutil.iter_modules():
        if info.name in sys.stdlib_module_names and not info.name.startswith("_") and info.name not in _SKIP_MODULES:
            names.add(info.name)
            if info.ispkg:
                try:
                    package = importlib.import_module(info.name)
                except Exception:  # noqa: BLE001 - platform-specific packages fail to import; skip them
                    continue
                for sub in pkgutil.walk_packages(
                    getattr(package, "__path__", []), prefix=info.name + ".", onerror=lambda _: None
                ):
                    if not any(part.startswith("_") or part in ("test", "tests") for part in sub.name.split(".")):
                        names.add(sub.name)
    return sorted(names)


def _docstrings(module: Any) -> list[str]:
    """Docstrings of a module, its public functions and classes, and their methods."""
    docs = []
    objects = [module]
    for name, value in sorted(vars(module).items()):
        if not name.startswith("_") and (inspect.isroutine(value) or inspect.isclass(value)):
            objects.append(value)
            if inspect.isclass(value):
                objects.extend(v for k, v in sorted(vars(value).items()) if not k.startswith("_"))
    for obj in objects:
        doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
        if doc:
            docs.append(doc)
    return docs


def stdlib_sentences(count: int = 10_000) -> list[str]:
    """``count`` distinct English sentences from stdlib docstrings, in a fixed order (sorted, then strided)."""
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module_name in _stdlib_module_names():
            try:
                module = importlib.import_module(module_name)
            except Exception:  # noqa: BLE001 - platform-specific modules fail to import; skip them
                continue
            for doc in _docstrings(module):
                for paragraph in doc.split("\n\n"):
                    text = " ".join(paragraph.split())
                    for sentence in _SENTENCE_END.split(text):
                        words = sentence.split()
                        # Prose, not code or tables: several words, starts with a capital, ends like a sentence.
                        if (
                            4 <= len(words) <= 100
                            and sentence[0].isupper()
                            and sentence[-1] in ".!?"
                            and ">>>" not in sentence
                        ):
                            seen.add(sentence)
    sentences = sorted(seen)
    if len(sentences) < count:
        raise RuntimeError(f"only {len(sentences)} docstring sentences found, {count} requested")
    stride = len(sentences) / count
    return [sentences[int(i * stride)] for i in range(count)]


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run(
    sentences: int = 10_000,
    repeats: int = 5,
    max_length: int = 128,
    slow_repeats: int = 1,
    model_path: str | os.PathLike = DEFAULT_MODEL,
) -> dict[str, Any]:
    """Measure the three tokenizers on the same batch; returns throughputs (sentences/s) and agreement counts."""
    sys.path.insert(0, str(REPO_ROOT))
    import transformers

    from albert_core.tokenizer import AlbertTokenizer

    transformers.logging.set_verbosity_error()
    texts = stdlib_sentences(sentences)
    ours = AlbertTokenizer(model_path)
    fast = transformers.AlbertTokenizerFast(vocab_file=str(model_path))
    slow = transformers.AlbertTokenizer(vocab_file=str(model_path))
    kwargs = dict(padding="max_length", truncation=True, max_length=max_length, return_tensors="np")

    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, np.ndarray] = {}
    tokenizers = {"albert_core": ours, "hf_fast": fast, "hf_slow": slow}
    for name, tokenizer in tokenizers.items():  # also the warm-up (thread pools, caches)
        outputs[name] = np.asarray(tokenizer(texts, **kwargs)["input_ids"])
    # Repetitions interleave the tokenizers so that load from other processes hits them alike.
    times: dict[str, list[float]] = {name: [] for name in tokenizers}
    for repetition in range(repeats):
        for name, tokenizer in tokenizers.items():
            if name != "hf_slow" or repetition < slow_repeats:
                times[name].append(_seconds(lambda tok=tokenizer: tok(texts, **kwargs)))
    for name, samples in times.items():
        seconds = statistics.median(samples)
        results[name] = {"seconds": seconds, "sentences_per_s": len(texts) / seconds, "samples_s": samples}
    reference = outputs["hf_slow"]
    for name in ("albert_core", "hf_fast"):
        results[name]["rows_differing_from_hf_slow"] = int((outputs[name] != reference).any(axis=1).sum())
    results["albert_core"]["speedup_vs_hf_fast"] = (
        results["albert_core"]["sentences_per_s"] / results["hf_fast"]["sentences_per_s"]
    )
    import sentencepiece

    return {
        "sentences": len(texts),
        "mean_tokens": float((reference != ours.pad_token_id).sum(axis=1).mean()),
        "max_length": max_length,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            "transformers": transformers.__version__,
            "sentencepiece": sentencepiece.__version__,
            "numpy": np.__version__,
        },
        "results": results,
    }


def markdown_table(report: dict[str, Any]) -> str:
    lines = ["| tokenizer | sentences/s | median seconds | rows differing from HF slow |", "|---|---:|---:|---:|"]
    for name, label in (
        ("albert_core", "albert_core.AlbertTokenizer"),
        ("hf_fast", "HF AlbertTokenizerFast"),
        ("hf_slow", "HF AlbertTokenizer (slow, reference)"),
    ):
        row = report["results"][name]
        differing = row.get("rows_differing_from_hf_slow", 0)
        lines.append(f"| {label} | {row['sentences_per_s']:,.0f} | {row['seconds']:.3f} | {differing} |")
    speedup = report["results"]["albert_core"]["speedup_vs_hf_fast"]
    lines.append(
        f"\n{report['sentences']} sentences, max_length={report['max_length']}, "
        f"{report['cpu_count']} CPUs; albert_core is {speedup:.2f}x HF fast."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "benchmarks/results/tokenizer.json")
    args = parser.parse_args()
    report = run(args.sentences, args.repeats, args.max_length)
    print(markdown_table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
