"""`pipeline(task, model=...)`: text in, answers out, on any backend (HF's pipeline habits).

    >>> fill = albert_core.pipeline("fill-mask", model="path/to/albert-base-v2", backend="torch")
    >>> fill("The capital of France is [MASK].", top_k=3)

One module per task family (`fill_mask`, `classification`, `question_answering`, `features`) on the `base.Pipeline`
class and `batching`; the registry of pipeline classes is built here.
"""

from __future__ import annotations

import os
from typing import Any

from ..api import RANDOM_PREFIX, load
from ..checkpoints import Checkpoint
from ..errors import ConfigError
from ..tasks import PIPELINE_ALIASES, PIPELINE_TASKS
from .base import Pipeline, load_tokenizer, resolve_model
from .classification import MultipleChoicePipeline, TextClassificationPipeline, TokenClassificationPipeline
from .features import FeatureExtractionPipeline
from .fill_mask import FillMaskPipeline
from .question_answering import QuestionAnsweringPipeline

PIPELINES: dict[str, type[Pipeline]] = {cls.task: cls for cls in (
    FillMaskPipeline, TextClassificationPipeline, TokenClassificationPipeline, QuestionAnsweringPipeline,
    FeatureExtractionPipeline, MultipleChoicePipeline)}


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
    name = PIPELINE_ALIASES.get(task, task)
    if name not in PIPELINE_TASKS:
        known = sorted([*PIPELINE_TASKS, *PIPELINE_ALIASES])
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
        loaded = load(checkpoint, backend=backend, task=PIPELINE_TASKS[name], dtype=dtype, device=device,
                      init_missing_heads=init_missing_heads, seed=seed, num_labels=num_labels)
        tok = load_tokenizer(tokenizer, checkpoint, source)
    else:
        if getattr(model, "task", None) != PIPELINE_TASKS[name]:
            raise ConfigError(f"pipeline {name!r} needs a model loaded with task={PIPELINE_TASKS[name]!r}, got a model "
                              f"for task {getattr(model, 'task', None)!r}")
        loaded = model
        tok = load_tokenizer(tokenizer, None, f"<{type(model).__name__}>")
    return PIPELINES[name](loaded, tok, batch_size=batch_size, max_length=max_length)


__all__ = ["PIPELINES", "PIPELINE_ALIASES", "PIPELINE_TASKS", "Pipeline", "load_tokenizer", "pipeline", "resolve_model"]
