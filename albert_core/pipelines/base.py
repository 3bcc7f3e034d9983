"""The `Pipeline` base class: input checks, length-sorted batching, streaming; and resolving a pipeline's model
and tokenizer.

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

from ..api import RANDOM_PREFIX, open_source, random_checkpoint
from ..backend import LoadedModel
from ..checkpoints import Checkpoint
from ..config import AlbertConfig
from ..errors import AlbertError, ConfigError, InputError, InputTypeError, TokenizerError
from ..tasks import PRETRAINING
from .batching import run_batches


def resolve_model(source: Any, seed: int = 0) -> Checkpoint:
    """A model source as `load` takes it (folder, preset, `random:<preset>`, `random:tiny`, `Checkpoint`)."""
    if isinstance(source, str) and source.startswith(RANDOM_PREFIX):
        return random_checkpoint(source[len(RANDOM_PREFIX):], PRETRAINING, seed)
    if isinstance(source, (str, os.PathLike)):
        return open_source(source)
    if isinstance(source, Checkpoint):
        return source
    raise TypeError(f"model must be a folder, a preset name, 'random:<preset>' or a loaded model, "
                    f"got {type(source).__name__}")


def load_tokenizer(tokenizer: Any, checkpoint: Checkpoint | None, model_name: str) -> Any:
    """An `AlbertTokenizer` from `tokenizer=` (instance, spiece.model file or folder) or the model's folder."""
    from ..tokenizer import AlbertTokenizer

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


def check_top_k(value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = " or None (all)" if allow_none else ""
        raise ConfigError(f"top_k must be an int >= 1{extra}, got {value!r}")
    return value


def input_name(task: str, index: int, count: int) -> str:
    """How a message names an input: "fill-mask input 3" in a list, "fill-mask input" when it is the only one."""
    return f"{task} input" if count == 1 else f"{task} input {index}"


def check_texts(items: list[Any], task: str) -> list[str]:
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InputTypeError(f"{input_name(task, index, len(items))} must be a str, got {type(item).__name__} "
                                 f"{item!r:.60}")
    return items


def reject_unknown_options(task: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{task} does not take {unknown}; its options are {list(known)}")


class Pipeline:
    """Base class: input checking, batching and streaming. Subclasses define `preprocess` and `postprocess`."""

    task = "abstract"
    fields: dict[str, str] = {}

    def __init__(self, model: LoadedModel, tokenizer: Any, *, batch_size: int = 8,
                 max_length: int | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}; pass e.g. batch_size=8")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.config: AlbertConfig = model.config
        if not isinstance(model, LoadedModel):
            raise ConfigError(f"a pipeline runs a model from albert_core.load, got a {type(model).__name__}")
        self.to_numpy = model.ops.to_numpy
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

    def tokenize(self, texts: list[str], pairs: list[str] | None = None, **extra: Any) -> dict[str, list]:
        """Token rows (lists, truncated to `max_length`) for texts and optional second texts."""
        return self.tokenizer(texts, pairs, truncation=True, max_length=self.max_length, return_tensors=None,
                              **extra)

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
        """Results for an iterable of inputs, in order, reading `chunk_size` inputs at a time (for big files).

        An input it cannot take raises the project's error with `input_index` set: its position in `inputs`."""
        options = self.check_options(dict(options))
        size = chunk_size or self.batch_size * 16
        chunk: list[Any] = []
        done = 0
        for item in inputs:
            chunk.append(item)
            if len(chunk) == size:
                yield from self._run(chunk, options, first=done)
                done, chunk = done + len(chunk), []
        if chunk:
            yield from self._run(chunk, options, first=done)

    def _run(self, items: list[Any], options: dict[str, Any], first: int | None = None) -> list[Any]:
        if not items:
            return []
        per_item = self.preprocess(items, options) if first is None else self._preprocess_stream(items, options, first)
        flat = [feature for features in per_item for feature in features]
        outputs = run_batches(self.model, self.to_numpy, flat, batch_size=self.batch_size,
                              pad_id=self.tokenizer.pad_token_id, fields=self.fields)
        results, start = [], 0
        for item, features in zip(items, per_item):
            results.append(self.postprocess(item, features, outputs[start:start + len(features)], options))
            start += len(features)
        return results

    def _preprocess_stream(self, items: list[Any], options: dict[str, Any], first: int) -> list[list[Any]]:
        """`preprocess` of a stream's chunk; on an error, the input at fault is found (each alone, only then) and
        its own error raised, with `input_index` its position in the stream."""
        try:
            return self.preprocess(items, options)
        except AlbertError as exc:
            for offset, item in enumerate(items):
                try:
                    self.preprocess([item], options)
                except AlbertError as alone:
                    alone.input_index = first + offset
                    raise alone from None
            exc.input_index = None
            raise
