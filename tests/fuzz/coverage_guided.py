"""Coverage-guided fuzzing (atheris: libFuzzer for Python) of the two readers that parse untrusted bytes the most:
the safetensors header parser (`SafetensorsFile`, then every tensor read) and the config reader
(`AlbertConfig.from_json_file`).

    python tests/fuzz/coverage_guided.py safetensors --seconds 120 [--work DIR]
    python tests/fuzz/coverage_guided.py config --seconds 120

The corpus starts from real files (the presets' config.json; model.safetensors of tiny models of every task, with
f16/f64, 0-d and empty tensors) and grows with every input that reaches new code, in DIR/corpus-TARGET.
The property is the property tests' (tests/fuzz): the project's own error, `CheckpointError` or `ConfigError`
naming the file, or a valid result; anything else is a finding, which libFuzzer saves as DIR/crash-* and reports
with the exception. A finding becomes a plain regression test once fixed (see test_fuzz_safetensors.py and
test_fuzz_config.py, "escaped before").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import atheris
import numpy as np

with atheris.instrument_imports(include=["albert_core"]):
    from albert_core import AlbertConfig, CheckpointError, ConfigError
    from albert_core.checkpoints import SafetensorsFile, save_safetensors
    from albert_core.config import PRESETS
    from albert_core.layout import init_params

_scratch = Path(tempfile.mkdtemp(prefix="albert-fuzz-"))


def safetensors_input(data: bytes) -> None:
    path = _scratch / "model.safetensors"
    path.write_bytes(data)
    try:
        f = SafetensorsFile(path)
        for name in f:
            f.shape(name)
            f[name]
    except CheckpointError as exc:
        if str(path) not in str(exc):
            raise AssertionError(f"the message does not name the file: {exc}") from None


def config_input(data: bytes) -> None:
    path = _scratch / "config.json"
    path.write_bytes(data)
    try:
        config = AlbertConfig.from_json_file(path)
    except ConfigError as exc:
        if str(path) not in str(exc):
            raise AssertionError(f"the message does not name the file: {exc}") from None
        return
    again = _scratch / "again.json"
    config.to_json_file(again)
    AlbertConfig.from_json_file(again)


def seed_safetensors(folder: Path) -> None:
    config = AlbertConfig(vocab_size=12, embedding_size=4, hidden_size=8, num_attention_heads=2,
                          intermediate_size=8, num_hidden_layers=1, max_position_embeddings=8)
    for task in ("base", "masked-lm", "question-answering"):
        save_safetensors(init_params(config, task), folder / f"{task}.safetensors")
    odd = {"half": np.arange(6, dtype=np.float16).reshape(2, 3), "double": np.ones(2), "scalar": np.array(1.5),
           "empty": np.zeros((0, 3), np.float32)}
    save_safetensors(odd, folder / "dtypes.safetensors")


def seed_config(folder: Path) -> None:
    for name in PRESETS:
        AlbertConfig.from_preset(name).to_json_file(folder / f"{name}.json")
    AlbertConfig(num_labels=5, position_embedding_type="relative_key_query").to_json_file(folder / "labels.json")


TARGETS = {"safetensors": (safetensors_input, seed_safetensors), "config": (config_input, seed_config)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--work", type=Path, default=Path(".fuzz"))
    args, extra = parser.parse_known_args()
    one_input, seed = TARGETS[args.target]
    corpus = args.work / f"corpus-{args.target}"
    if not corpus.is_dir():
        corpus.mkdir(parents=True)
        seed(corpus)
    libfuzzer = [sys.argv[0], str(corpus), f"-max_total_time={args.seconds}", "-print_final_stats=1",
                 f"-artifact_prefix={args.work}{os.sep}", "-rss_limit_mb=2048", *extra]
    atheris.Setup(libfuzzer, one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
