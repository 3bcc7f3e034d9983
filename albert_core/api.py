"""`load` and `save`: model folder (or preset, or `random:<preset>`) -> a model on the chosen backend, and back."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import LoadInfo
from .checkpoints import Checkpoint, HFSafetensorsFormat, read_checkpoint
from .config import PRESETS, AlbertConfig
from .errors import CheckpointError, ConfigError
from .layout import ARCHITECTURES, hf_layout, init_params, param_table, resolve_weights
from .plugins import get_backend
from .tasks import BASE, PRETRAINING, task_check, task_spec

RANDOM_PREFIX = "random:"
# `random:tiny`: a small shape for smoke tests and docs; its vocabulary matches the official 30k SentencePiece
# model so any ALBERT tokenizer fits it.
TINY_CONFIG = dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                   num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)


class _TaskWeights(Mapping[str, np.ndarray]):
    """Canonical name -> host array, read from the checkpoint on access (or freshly initialised)."""

    def __init__(self, checkpoint: Checkpoint, source_of: dict[str, str], initialised: dict[str, np.ndarray],
                 order: list[str]) -> None:
        self._ckpt, self._source_of, self._init, self._order = checkpoint, source_of, initialised, order

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._init:
            return self._init[name]
        return self._ckpt.weights[self._source_of[name]]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._init[name].shape) if name in self._init else self._ckpt.shape(self._source_of[name])

    def read_into(self, name: str, out: np.ndarray, start_row: int = 0) -> bool:
        """Fill `out` directly from the checkpoint when its reader can (one copy, no temporary array)."""
        reader = getattr(self._ckpt.weights, "read_into", None)
        if name in self._init or reader is None:
            return False
        return reader(self._source_of[name], out, start_row)

    def mapped(self, name: str) -> np.ndarray | None:
        """A copy-on-write memory map of the tensor when its reader offers one (no copy at all), else None."""
        reader = getattr(self._ckpt.weights, "mapped", None)
        return None if name in self._init or reader is None else reader(self._source_of[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


def random_checkpoint(preset_or_config: str | AlbertConfig, task: str = BASE, seed: int = 0) -> Checkpoint:
    """Seeded random weights for a preset name (`"albert-base-v2"`), `"tiny"`, or a config: the CLI's default model."""
    if isinstance(preset_or_config, AlbertConfig):
        config = preset_or_config
    elif preset_or_config == "tiny":
        config = AlbertConfig(**TINY_CONFIG)
    else:
        config = AlbertConfig.from_preset(preset_or_config)
    return Checkpoint(config, init_params(config, task, seed), source=f"{RANDOM_PREFIX}{preset_or_config}")


def open_source(source: Any) -> Checkpoint:
    if isinstance(source, Checkpoint):
        return source
    text = os.fspath(source)
    if text.startswith(RANDOM_PREFIX):
        return random_checkpoint(text[len(RANDOM_PREFIX):], PRETRAINING)  # every head's weights but a classifier's
    if not Path(text).exists() and (text in PRESETS or "/" in text and not text.startswith((".", "/"))):
        return _from_hub(text)
    return read_checkpoint(text)[1]


def _from_hub(name: str) -> Checkpoint:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(f"{name!r} is not a local folder; to download it install huggingface_hub "
                              "(pip install 'albert-core[hub]') or pass the path of a model folder") from None
    repo = name if "/" in name else f"albert/{name}"
    try:
        folder = snapshot_download(repo, allow_patterns=["config.json", "model.safetensors*", "spiece.model"])
    except Exception as exc:
        raise CheckpointError(f"could not download {repo!r} from the Hugging Face Hub ({exc}); pass a local "
                              "model folder instead") from None
    return read_checkpoint(folder)[1]


def load(source: Any, backend: str = "numpy", task: str = BASE, *, dtype: str = "float32",
         device: str | None = None, trainable: bool = False, init_missing_heads: bool = False, seed: int = 0,
         num_labels: int | list[str] | None = None, config: AlbertConfig | None = None) -> Any:
    """Load an ALBERT model for `task` on `backend`.

    `source`: an HF model folder (`config.json` + `model.safetensors`), any folder a checkpoint-format plugin
    detects, a preset name such as `"albert-base-v2"` (downloaded when `huggingface_hub` is installed),
    `"random:<preset>"` or `"random:tiny"` for seeded random weights, or a `Checkpoint`. `num_labels` (a count
    or label names) or `config` override the stored config. Head weights missing from the checkpoint are an error unless
    `init_missing_heads=True`; the returned model's `load_info.initialized` lists them.
    """
    task_check(task)
    backend_obj = get_backend(backend)  # fail fast on unknown backends, before reading gigabytes
    ckpt = open_source(source)
    cfg = config or ckpt.config
    if num_labels is not None:
        cfg = cfg.with_labels(num_labels)
    needed = task_spec(task).num_labels
    if needed is not None and cfg.num_labels != needed:
        raise ConfigError(f"task {task!r} needs num_labels={needed} (HF sizes its head by num_labels), got "
                          f"{cfg.num_labels}; pass num_labels={needed}")
    names = list(ckpt.weights)
    source_of, missing_heads, unused = resolve_weights(cfg, task, names, {n: ckpt.shape(n) for n in names},
                                                       init_missing_heads=init_missing_heads)
    initialised = init_params(cfg, task, seed, names=missing_heads) if missing_heads else {}
    order = [s.name for s in param_table(cfg, task)]
    info = LoadInfo(source=ckpt.source, initialized=missing_heads, unused=unused, skipped=list(ckpt.skipped))
    weights = _TaskWeights(ckpt, source_of, initialised, order)
    return backend_obj.build(cfg, task, weights, dtype=dtype, device=device, trainable=trainable, info=info)


def model_params_numpy(model: Any) -> dict[str, np.ndarray]:
    """HF-named host arrays of a loaded model on any backend."""
    if hasattr(model, "numpy_params"):
        return model.numpy_params()
    raise TypeError(f"cannot read parameters from a {type(model).__name__}; pass a model from albert_core.load "
                    "or a mapping of HF-named arrays with config= and task=")


def save(model: Any, folder: str | os.PathLike, *, config: AlbertConfig | None = None, task: str | None = None,
         tokenizer_file: str | os.PathLike | None = None) -> Path:
    """Write an HF-compatible folder (`config.json` + `model.safetensors`, float32) that HF transformers loads.

    `model` is a model from `load` (any backend), or a mapping of HF-named arrays together with `config`
    and `task` (e.g. a JAX params pytree after fine-tuning; its `*.kernel` entries are written transposed,
    as HF's `*.weight`).
    """
    if isinstance(model, Mapping):
        if config is None or task is None:
            raise TypeError("saving a mapping of arrays needs config= and task=")
        params = hf_layout({k: np.asarray(v) for k, v in model.items()}, np.transpose)
    else:
        params = model_params_numpy(model)
        config, task = config or model.config, task or model.task
    task_check(task)
    expected = {s.name: s.shape for s in param_table(config, task)}
    wrong = sorted(set(expected) ^ set(params))
    if wrong:
        raise CheckpointError(f"parameters do not match task {task!r}: missing or unexpected {wrong}")
    tensors = {k: params[k].astype(np.float32, copy=False) for k in expected}
    ckpt = Checkpoint(config, tensors, architectures=[ARCHITECTURES[task]],
                      tokenizer_file=Path(tokenizer_file) if tokenizer_file else None)
    HFSafetensorsFormat().write(folder, ckpt)
    return Path(folder)
