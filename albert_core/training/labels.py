"""Labels of the classification tasks: class names or ids -> ids (`LabelMap`), the problem type a data set's labels
imply (HF's: lists multi-label, fractional numbers regression, else single-label), regression and choice labels."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, short_repr
from .data import Record, fields_of, wrong_type

INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
FLOAT_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def sorted_names(names: set[str]) -> list[str]:
    """Sorted as HF's run_glue sorts the labels it reads, numerically when they are all integers ("2" < "10")."""
    if all(INT_TEXT.fullmatch(name) for name in names):
        return sorted(names, key=int)
    return sorted(names)


def check_label_names(label_names: object) -> list[str] | None:
    if label_names is None:
        return None
    if not isinstance(label_names, (list, tuple)) or not label_names or \
            not all(isinstance(name, str) for name in label_names) or len(set(label_names)) != len(label_names):
        raise ConfigError(f"label_names must be a non-empty list of distinct str (the label of each class id), got "
                          f"{short_repr(label_names)}; pass e.g. label_names=['negative', 'positive'].")
    return list(label_names)


class LabelMap:
    """Class labels -> ids: the given names, else the data's (sorted names, or "0".."max" for integer ids)."""

    def __init__(self, values: list[tuple[Record, Any]], given: list[str] | None, field: str) -> None:
        self.field = field
        first_record, first = values[0] if values else (None, None)
        for record, value in values:
            kind = class_kind(value)
            if kind is None:
                raise DataError(f"{record.where}: {field} {short_repr(value)} ({type(value).__name__}) is neither a "
                                "class name (str) nor a class id (int); write it as one of them.")
            if kind != class_kind(first):
                raise DataError(
                    f"{record.where}: {field} {short_repr(value)} is a class {kind}, but {first_record.where} has "
                    f"{short_repr(first)}, a class {class_kind(first)}; write every label of a data set the same "
                    "way: all names (str) or all ids (int)."
                )
        if given is not None:
            self.names = given
        elif isinstance(first, str):
            self.names = sorted_names({value for _, value in values})
        else:
            self.names = [str(i) for i in range(max(max(int(v) for _, v in values), 0) + 1)]
        self.index = {name: i for i, name in enumerate(self.names)}
        # A fine-tuned model's default names (LABEL_0...) also take CSV ids written as text ("0").
        self.text_ids = not any(INT_TEXT.fullmatch(name) for name in self.names)

    def __call__(self, record: Record, value: Any) -> int:
        if isinstance(value, str):
            if value in self.index:
                return self.index[value]
            if not (self.text_ids and INT_TEXT.fullmatch(value)):
                raise DataError(f"{record.where}: unknown {self.field} {short_repr(value)}; the labels are "
                                f"{short_repr(self.names)}. Fix the label, or pass label_names with every label.")
        if not 0 <= int(value) < len(self.names):
            raise DataError(f"{record.where}: {self.field} id {short_repr(value)} is outside [0, {len(self.names)}) "
                            f"(the labels are {short_repr(self.names)}); class ids count from 0; drop the field for "
                            "a prediction set.")
        return int(value)


def class_kind(value: Any) -> str | None:
    """ "name" (a str), "id" (an int, or an integer-valued float as pandas writes ids; not a bool), else None."""
    if isinstance(value, str):
        return "name"
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return "id"
    return None


def labelled_values(records: list[Record], field: str) -> list[tuple[Record, Any]] | None:
    """(record, label) for every record, or None when no record has one (a prediction set); null and "" are no
    label. Some records with a label and some without is an error."""
    values = [(record, record.fields.get(field)) for record in records]
    present = [(record, value) for record, value in values if value is not None and value != ""]
    if not present:
        return None
    if len(present) < len(values):
        missing = next(record for record, value in values if value is None or value == "")
        raise DataError(f"{missing.where}: no field {field!r} (the record has fields {fields_of(missing)}), but "
                        f"{present[0][0].where} has one; label every record, or none (a prediction set).")
    return present


def label_kind(record: Record, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return "number"
    raise wrong_type(record, "label", value, "a class name (str), a class id (int), a number (regression) or a list of "
                 "names or ids (multi-label)")


def infer_problem(labelled: list[tuple[Record, Any]]) -> str:
    """HF's problem types from the labels' kind: lists multi-label, non-integer numbers (also as CSV text)
    regression, else single-label."""
    first_record, first = labelled[0]
    kind = label_kind(first_record, first)
    for record, value in labelled:
        if label_kind(record, value) != kind:
            raise DataError(
                f"{record.where}: label {short_repr(value)} is a {label_kind(record, value)}, but "
                f"{first_record.where} has the {kind} {short_repr(first)}; the labels of one data set are all class "
                "names, all class ids or numbers, or all lists (multi-label). Make them one kind, or pass problem_type."
            )
    values = [value for _, value in labelled]
    if kind == "list":
        return "multi_label_classification"
    if kind == "number":
        fractional = any(not float(value).is_integer() for value in values)
    else:  # CSV cells are text: "3.8" is a similarity score, "2" a class
        fractional = all(FLOAT_TEXT.fullmatch(v) for v in values) and not all(INT_TEXT.fullmatch(v) for v in values)
    return "regression" if fractional else "single_label_classification"


def regression_label(record: Record, value: Any) -> float:
    if isinstance(value, str) and FLOAT_TEXT.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value):
        raise wrong_type(record, "label", value, "a finite number (problem_type regression)")
    return float(value)


def choice_label(record: Record, value: Any, count: int) -> int:
    if isinstance(value, str) and INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise wrong_type(record, "label", value, f"an int, the index of the right choice in [0, {count})")
    if not 0 <= value < count:
        raise DataError(f"{record.where}: field 'label' is {short_repr(value)}, outside [0, {count}) (the record has "
                        f"{count} choices); the label is the index of the right choice, counting from 0.")
    return int(value)
