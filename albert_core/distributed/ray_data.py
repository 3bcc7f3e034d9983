"""Corpus-scale batch inference on Ray Data.

`RayPredictor` is a callable class for `ray.data.Dataset.map_batches`: each actor builds its pipeline (model,
tokenizer, backend) once, then takes `dict[str, np.ndarray]` batches and gives back the same rows with a `result`
column: each row's result as the JSON text `albert run` writes for it. `run_dataset` reads JSON lines (one input a
line, as `albert run` reads them) or Parquet (a column per field), runs the predictor on an actor pool and writes
JSON lines in input order, into a file renamed into place only when complete.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..atomic_files import replace_atomically
from ..errors import AlbertError, ConfigError, InputError
from ..pipelines import pipeline
from ..pipelines.records import json_to_input, result_line
from ..tasks import MULTIPLE_CHOICE, QUESTION_ANSWERING, TEXT_CLASSIFICATION

INPUT_COLUMN = "input"  # a row's input as one JSON value (a line of `albert run`'s input)
RESULT_COLUMN = "result"  # a row's result as JSON text (the line `albert run` writes for it)
# The columns a row may give instead of INPUT_COLUMN (Parquet, or a dataset of the user's): the pipeline's fields.
FIELDS = {TEXT_CLASSIFICATION: ("text", "text_pair"), QUESTION_ANSWERING: ("question", "context"),
          MULTIPLE_CHOICE: ("context", "choices")}


class RayPredictor:
    """`ds.map_batches(RayPredictor, fn_constructor_kwargs={"task": ..., "model": ...}, batch_size=...,
    compute=ray.data.ActorPoolStrategy(size=N))`. The keyword arguments are `albert_core.pipeline`'s, plus
    `options` (the task's call options, e.g. `{"top_k": 3}`)."""

    def __init__(self, task: str, model: Any, *, options: dict[str, Any] | None = None, **pipeline_kwargs: Any):
        self.pipe = pipeline(task, model, **pipeline_kwargs)
        self.task = self.pipe.task
        self.options = dict(options or {})
        self.pipe.check_options(dict(self.options))  # a bad option fails as the actor starts, not on a batch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = inputs_of(self.task, batch)
        results = self.pipe(items, **self.options) if items else []
        lines = [result_line(r) for r in results]
        return {**batch, RESULT_COLUMN: np.array(lines, dtype=object)}


def inputs_of(task: str, batch: dict[str, np.ndarray]) -> list[Any]:
    """The pipeline inputs of a batch's rows: from INPUT_COLUMN (JSON text) or from the task's field columns."""
    if INPUT_COLUMN in batch:
        return [json_to_input(task, str(line), f"row {i} of the batch") for i, line in enumerate(batch[INPUT_COLUMN])]
    fields = [f for f in FIELDS.get(task, ("text",)) if f in batch]
    if not fields:
        raise InputError(f"a {task} batch needs a {INPUT_COLUMN!r} column (JSON text) or the columns "
                         f"{list(FIELDS.get(task, ('text',)))}; got {sorted(batch)}")
    rows = len(batch[fields[0]])
    if fields == ["text"]:
        return [str(t) for t in batch["text"]]
    out = []
    for i in range(rows):
        row = {f: batch[f][i] for f in fields}
        if "choices" in row:
            row["choices"] = [str(c) for c in row["choices"]]
        out.append({k: v if isinstance(v, list) else str(v) for k, v in row.items()})
    return out


def run_dataset(task: str, model: Any, input_path: str, output_path: str, *, num_workers: int = 1,
                cpus_per_worker: float = 1.0, batch_size: int = 8, options: dict[str, Any] | None = None,
                **pipeline_kwargs: Any) -> int:
    """`albert run --engine ray`: `input_path` (`.jsonl`/`.json`, or `.parquet`) through `num_workers` actors of
    `RayPredictor` on the Ray cluster (`ray.init()`: RAY_ADDRESS or a local one), the results written to
    `output_path` as JSON lines in input order. Returns the number of rows."""
    import ray

    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ConfigError(f"--num-workers must be an int >= 1, got {num_workers!r}")
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # results in input order, as `albert run` writes them
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.raise_original_map_exception = True  # an actor's InputError reaches us as itself, not as Ray's text
    if str(input_path).endswith(".parquet"):
        ds = ray.data.read_parquet(input_path)
    else:  # each non-blank line one input, exactly as `albert run` reads them
        ds = ray.data.read_text(input_path).filter(lambda row: bool(row["text"].strip()))
        ds = ds.rename_columns({"text": INPUT_COLUMN})
    ds = ds.map_batches(RayPredictor, fn_constructor_kwargs={"task": task, "model": model, "options": options,
                                                            "batch_size": batch_size, **pipeline_kwargs},
                        batch_size=batch_size * 16, compute=ray.data.ActorPoolStrategy(size=num_workers),
                        num_cpus=cpus_per_worker)
    count = 0
    try:
        with replace_atomically(output_path) as partial, open(partial, "x", encoding="utf-8") as sink:
            for batch in ds.select_columns([RESULT_COLUMN]).iter_batches(batch_format="numpy", batch_size=None):
                for line in batch[RESULT_COLUMN]:
                    sink.write(f"{line}\n")
                    count += 1
    except ray.exceptions.RayError as exc:  # an actor's error: the project's own, without Ray's wrapping
        cause = _own_error(exc, ray.exceptions.RayError)
        if cause is None:
            raise
        raise cause from None
    return count


def _own_error(exc: BaseException | None, wrapper: type) -> AlbertError | None:
    """The project's exception inside Ray's wrappers (`wrapper` and its subclasses, which Ray also mixes into the
    original exception's class) and their causes, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, AlbertError) and not isinstance(exc, wrapper):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None
