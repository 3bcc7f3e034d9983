"""Pipeline inputs and results as JSON lines: what `albert run` and the Ray Data predictor read and write, one
input (a JSON value) and one result (JSON text) a line."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import InputError
from ..tasks import FEATURE_EXTRACTION, FILL_MASK, TOKEN_CLASSIFICATION


def json_to_input(task: str, line: str, where: str) -> Any:
    """One JSON line of `albert run` -> one pipeline input (a bare string, or an object with the task's fields)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); write one JSON value a line") \
            from None
    if isinstance(value, dict) and task in (FILL_MASK, TOKEN_CLASSIFICATION, FEATURE_EXTRACTION):
        if set(value) != {"text"}:
            raise InputError(f"{where}: a {task} line is a JSON string or {{\"text\": ...}}, got keys {sorted(value)}")
        return value["text"]
    return value


def to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def result_line(result: Any) -> str:
    """A pipeline result as the JSON text of one output line (NumPy arrays and scalars as lists and numbers)."""
    return json.dumps(to_jsonable(result), ensure_ascii=False)
