"""`pipeline(task, model=...)`: text in, answers out, on any backend (HF's pipeline habits).

    >>> fill = albert_core.pipeline("fill-mask", model="path/to/albert-base-v2", backend="torch")
    >>> fill("The capital of France is [MASK].", top_k=3)

A pipeline tokenizes on the host, runs the model in length-sorted batches (little padding), converts the
outputs to NumPy with the backend's `to_numpy`, and post-processes on the host; results come back in input
order. See docs/cli.md for the same tasks from the shell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .api import RANDOM_PREFIX, _resolve_source, load, random_checkpoint
from .config import AlbertConfig
from .errors import ConfigError, InputError, TokenizerError
from .formats import Checkpoint
from .ops import Ops
from .plugins import get_backend

# Pipeline task -> model task (layout.TASKS); aliases are the names HF users type.
TASKS = {
    "fill-mask": "masked-lm",
    "text-classification": "sequence-classification",
    "token-classification": "token-classification",
    "question-answering": "question-answering",
    "feature-extraction": "base",
    "multiple-choice": "multiple-choice",
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}

def resolve_model(source: Any, seed: int = 0) -> Checkpoint:
    """A model source as `load` takes it (folder, preset, `random:<preset>`, `random:tiny`, `Checkpoint`)."""
    if isinstance(source, str) and source.startswith(RANDOM_PREFIX):
        return random_checkpoint(source[len(RANDOM_PREFIX):], "pretraining", seed)
    if isinstance(source, (str, os.PathLike)):
        return _resolve_source(source)
    if isinstance(source, Checkpoint):
        return source
    raise TypeError(f"model must be a folder, a preset name, 'random:<preset>' or a loaded model, "
                    f"got {type(source).__name__}")


def load_tokenizer(tokenizer: Any, checkpoint: Checkpoint | None, model_name: str) -> Any:
    """An `AlbertTokenizer` from `tokenizer=` (instance, spiece.model file or folder) or the model's folder."""
    from .tokenizer import AlbertTokenizer

    if isinstance(tokenizer, AlbertTokenizer):
        return tokenizer
    if tokenizer is not None:
        path = Path(os.fspath(tokenizer))
        if not path.exists():
            raise TokenizerError(f"tokenizer={os.fspath(tokenizer)!r} does not exist; pass the path of a "
                                 "spiece.model file or of a folder that holds one")
        return AlbertTokenizer.from_pretrained(path)
    if checkpoint is not None and checkpoint.tokenizer_file is not None:
        folder = Path(checkpoint.tokenizer_file).parent
        return AlbertTokenizer.from_pretrained(folder if folder.is_dir() else checkpoint.tokenizer_file)
    if model_name.startswith(RANDOM_PREFIX):
        raise TokenizerError(f"model {model_name!r} has random weights and no vocabulary; pass "
                             "tokenizer='path/to/spiece.model' (--tokenizer on the command line), any ALBERT "
                             "SentencePiece model")
    raise TokenizerError(f"model {model_name!r} has no spiece.model next to its weights; pass "
                         "tokenizer='path/to/spiece.model' (--tokenizer on the command line) or copy it into the "
                         "model folder")


def _to_numpy_of(model: Any, backend: str | None) -> Any:
    """The `to_numpy` that converts this model's outputs to host arrays."""
    ops = getattr(model, "ops", None)
    if callable(ops) and not isinstance(ops, Ops):
        ops = ops()  # the torch module binds its ops to the current device
    if not isinstance(ops, Ops):
        ops = getattr(getattr(model, "backend", None), "ops", None)
    if not isinstance(ops, Ops):
        if backend is None:
            raise ConfigError(f"cannot tell which backend a {type(model).__name__} runs on; pass backend=")
        ops = get_backend(backend).ops
    return ops.to_numpy


class Pipeline:
    """Base class: input checking, batching and streaming. Subclasses define `preprocess` and `postprocess`."""

    task = "abstract"
    fields: dict[str, str] = {}

    def __init__(self, model: Any, tokenizer: Any, *, backend: str | None = None, batch_size: int = 8,
                 max_length: int | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}; pass e.g. batch_size=8")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.config: AlbertConfig = model.config
        self.to_numpy = _to_numpy_of(model, backend)
        limit = min(self.config.max_position_embeddings, tokenizer.model_max_length)
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or not 3 <= max_length <= limit):
            raise ConfigError(f"max_length must be an int in [3, {limit}] (the model's positions), got "
                              f"{max_length!r}")
        self.max_length = max_length or limit
        if tokenizer.vocab_size > self.config.vocab_size:
            raise TokenizerError(f"the tokenizer has {tokenizer.vocab_size} pieces but the model only "
                                 f"{self.config.vocab_size} embeddings; pass the tokenizer this model was trained "
                                 "with")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, " \
               f"batch_size={self.batch_size}, max_length={self.max_length})"

    # -- subclass interface -------------------------------------------------------------------------
    def preprocess(self, inputs: list[Any], options: dict[str, Any]) -> list[list[Any]]:
        """Inputs -> per input, the list of features (model rows) it needs (QA windows need several)."""
        raise NotImplementedError

    def postprocess(self, item: Any, features: list[Any], outputs: list[dict[str, np.ndarray]],
                    options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, (str, dict))

    # -- running --------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, **options: Any) -> Any:
        """One input -> its result; a list of inputs -> a list of results in the same order."""
        single = self.is_single(inputs)
        items = [inputs] if single else inputs
        if not isinstance(items, (list, tuple)):
            raise InputError(f"{self.task} takes one input or a list of them, got {type(inputs).__name__}")
        results = self._run(list(items), self.check_options(dict(options)))
        return results[0] if single else results

    def stream(self, inputs: Iterable[Any], chunk_size: int | None = None, **options: Any) -> Iterator[Any]:
        """Results for an iterable of inputs, in order, reading `chunk_size` inputs at a time (for big files)."""
        options = self.check_options(dict(options))
        size = chunk_size or self.batch_size * 16
        chunk: list[Any] = []
        for item in inputs:
            chunk.append(item)
            if len(chunk) == size:
                yield from self._run(chunk, options)
                chunk = []
        if chunk:
            yield from self._run(chunk, options)

    def _run(self, items: list[Any], options: dict[str, Any]) -> list[Any]:
        from ._pipeline_batch import run_batches

        if not items:
            return []
        per_item = self.preprocess(items, options)
        flat = [feature for features in per_item for feature in features]
        outputs = run_batches(self.model, self.to_numpy, flat, batch_size=self.batch_size,
                              pad_id=self.tokenizer.pad_token_id, fields=self.fields)
        results, start = [], 0
        for item, features in zip(items, per_item):
            results.append(self.postprocess(item, features, outputs[start:start + len(features)], options))
            start += len(features)
        return results


def pipeline(task: str, model: Any = None, *, backend: str | None = None, device: str | None = None,
             dtype: str = "float32", tokenizer: Any = None, batch_size: int = 8, max_length: int | None = None,
             init_missing_heads: bool | None = None, num_labels: int | list[str] | None = None,
             seed: int = 0) -> Pipeline:
    """A pipeline for `task` (fill-mask, text-classification, token-classification, question-answering,
    feature-extraction, multiple-choice; aliases sentiment-analysis, ner).

    `model`: a model folder, a preset name, `"random:<preset>"` / `"random:tiny"` (seeded random weights, which
    need `tokenizer=`), or a model already loaded with `albert_core.load` on any backend. `backend`, `device`,
    `dtype` are passed to `load` (default backend: numpy). `tokenizer`: an `AlbertTokenizer`, or the path of a
    spiece.model file or folder; by default the model folder's. Random models get their missing heads
    initialised; for a folder pass `init_missing_heads=True` to allow that.
    """
    from ._pipeline_tasks import PIPELINES

    name = ALIASES.get(task, task)
    if name not in TASKS:
        known = sorted([*TASKS, *ALIASES])
        raise ConfigError(f"unknown pipeline task {task!r}; use one of {known}")
    if model is None:
        raise ConfigError(f"pipeline({task!r}) needs model=: a model folder, a preset name, or 'random:tiny' "
                          "with tokenizer='path/to/spiece.model'")
    if isinstance(model, (str, os.PathLike, Checkpoint)):
        checkpoint = resolve_model(model, seed)
        source = checkpoint.source if isinstance(model, Checkpoint) else os.fspath(model)
        if init_missing_heads is None:
            init_missing_heads = source.startswith(RANDOM_PREFIX)
        backend = backend or "numpy"
        loaded = load(checkpoint, backend=backend, task=TASKS[name], dtype=dtype, device=device,
                      init_missing_heads=init_missing_heads, seed=seed, num_labels=num_labels)
        tok = load_tokenizer(tokenizer, checkpoint, source)
    else:
        if getattr(model, "task", None) != TASKS[name]:
            raise ConfigError(f"pipeline {name!r} needs a model loaded with task={TASKS[name]!r}, got a model "
                              f"for task {getattr(model, 'task', None)!r}")
        loaded = model
        tok = load_tokenizer(tokenizer, None, f"<{type(model).__name__}>")
    return PIPELINES[name](loaded, tok, backend=backend, batch_size=batch_size, max_length=max_length)
