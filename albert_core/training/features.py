"""Records -> model-ready rows for each fine-tuning task (the encoders are added below `Features`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DataError, TokenizerError, TokenizerTypeError, short_repr
from ..tasks import MASKED_LM, MULTIPLE_CHOICE, PROBLEM_TYPES, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from ..tokenizer.arguments import check_text
from .data import Record, read_records

if TYPE_CHECKING:
    from ..tokenizer import AlbertTokenizer


@dataclass
class Features:
    """Tokenised rows of one data set, before batching. Rows are unpadded (the batcher pads each batch).

    - `rows[i]`: `input_ids` and `token_type_ids` (int64, shape [S], or [C, S] for multiple choice), and the
      labels the model task takes: `labels` (int64 scalar, float32 scalar/[L] for regression and multi-label,
      int64 [S] per token with -100 where no loss is taken), or `start_positions`/`end_positions` (int64 scalars);
      evaluation-only sets may have rows without labels;
    - `example_index[i]`: the record the row came from (question answering cuts one record into several windows);
    - `label_names`: the label of each class id (sequence/token classification), stored as `id2label`;
    - `problem_type`: HF's `problem_type` for sequence classification, else None;
    - `meta`: what the task's evaluation needs beyond the rows (question answering: offsets and answers).
    """

    task: str
    rows: list[dict[str, np.ndarray]]
    example_index: np.ndarray
    label_names: list[str] | None = None
    problem_type: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)


# ------------------------------------------------------------------------------------------------------ helpers
MAX_POSITIONS = 512  # ALBERT's max_position_embeddings: no row may be longer
_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _check_max_seq_length(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 8 <= value <= MAX_POSITIONS:
        raise ConfigError(f"max_seq_length must be an int in [8, {MAX_POSITIONS}] (ALBERT's position embeddings), got "
                          f"{short_repr(value)}; pass e.g. max_seq_length=128.")
    return int(value)


def _as_records(records: Any) -> list[Record]:
    """`records` itself when it is a list of `Record`s, else what `read_records` makes of it (a path, dicts...)."""
    if isinstance(records, (list, tuple)) and records and all(isinstance(r, Record) for r in records):
        return list(records)
    return read_records(records)


def _fields(record: Record) -> str:
    return short_repr(sorted(map(str, record.fields)))


def _get(record: Record, name: str, reads: str, optional: bool = False) -> Any:
    """The field `name`, or None if `optional` and absent (or null); `reads` says what the task reads."""
    value = record.fields.get(name)
    if value is None and not optional:
        state = "is null" if name in record.fields else "is missing"
        raise DataError(f"{record.where}: field {name!r} {state} (the record has fields {_fields(record)}); "
                        f"this task reads {reads}; rename or add the field.")
    return value


def _wrong(record: Record, name: str, value: Any, wanted: str, todo: str = "") -> DataError:
    return DataError(f"{record.where}: field {name!r} must be {wanted}, got {type(value).__name__} "
                     f"{short_repr(value)}{'; ' + todo if todo else ''}.")


def _text(record: Record, name: str, reads: str, optional: bool = False) -> str | None:
    value = _get(record, name, reads, optional)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(record, name, value, "a str", "write the text as a string")
    try:
        return check_text(name, value)
    except (TokenizerError, TokenizerTypeError) as exc:
        raise DataError(f"{record.where}: {exc}") from None


def _strings(record: Record, name: str, reads: str, example: str) -> list[str]:
    """A non-empty list of str: the words of `tokens`, the `choices`."""
    value = _get(record, name, reads)
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(word, str) for word in value):
        raise _wrong(record, name, value, "a non-empty list of str", f"e.g. {example}")
    for word in value:
        _text(Record({name: word}, record.where), name, reads)  # no lone surrogates
    return list(value)


def _row(ids: list[int], types: list[int]) -> dict[str, np.ndarray]:
    input_ids = np.asarray(ids, dtype=np.int64)
    return {"input_ids": input_ids, "token_type_ids": np.asarray(types, dtype=np.int64),
            "attention_mask": np.ones_like(input_ids)}


def _sorted_names(names: set[str]) -> list[str]:
    """Sorted as HF's run_glue sorts the labels it reads, numerically when they are all integers ("2" < "10")."""
    if all(_INT_TEXT.fullmatch(name) for name in names):
        return sorted(names, key=int)
    return sorted(names)


def _check_label_names(label_names: object) -> list[str] | None:
    if label_names is None:
        return None
    if not isinstance(label_names, (list, tuple)) or not label_names or \
            not all(isinstance(name, str) for name in label_names) or len(set(label_names)) != len(label_names):
        raise ConfigError(f"label_names must be a non-empty list of distinct str (the label of each class id), got "
                          f"{short_repr(label_names)}; pass e.g. label_names=['negative', 'positive'].")
    return list(label_names)


class _LabelMap:
    """Class labels -> ids: the given names, else the data's (sorted names, or "0".."max" for integer ids)."""

    def __init__(self, values: list[tuple[Record, Any]], given: list[str] | None, field: str) -> None:
        self.field = field
        first_record, first = values[0] if values else (None, None)
        for record, value in values:
            kind = _class_kind(value)
            if kind is None:
                raise DataError(f"{record.where}: {field} {short_repr(value)} ({type(value).__name__}) is neither a "
                                "class name (str) nor a class id (int); write it as one of them.")
            if kind != _class_kind(first):
                raise DataError(
                    f"{record.where}: {field} {short_repr(value)} is a class {kind}, but {first_record.where} has "
                    f"{short_repr(first)}, a class {_class_kind(first)}; write every label of a data set the same "
                    "way: all names (str) or all ids (int)."
                )
        if given is not None:
            self.names = given
        elif isinstance(first, str):
            self.names = _sorted_names({value for _, value in values})
        else:
            self.names = [str(i) for i in range(max(max(int(v) for _, v in values), 0) + 1)]
        self.index = {name: i for i, name in enumerate(self.names)}
        # A fine-tuned model's default names (LABEL_0...) also take CSV ids written as text ("0").
        self.text_ids = not any(_INT_TEXT.fullmatch(name) for name in self.names)

    def __call__(self, record: Record, value: Any) -> int:
        if isinstance(value, str):
            if value in self.index:
                return self.index[value]
            if not (self.text_ids and _INT_TEXT.fullmatch(value)):
                raise DataError(f"{record.where}: unknown {self.field} {short_repr(value)}; the labels are "
                                f"{short_repr(self.names)}. Fix the label, or pass label_names with every label.")
        if not 0 <= int(value) < len(self.names):
            raise DataError(f"{record.where}: {self.field} id {short_repr(value)} is outside [0, {len(self.names)}) "
                            f"(the labels are {short_repr(self.names)}); class ids count from 0; drop the field for "
                            "a prediction set.")
        return int(value)


def _class_kind(value: Any) -> str | None:
    """ "name" (a str), "id" (an int, or an integer-valued float as pandas writes ids; not a bool), else None."""
    if isinstance(value, str):
        return "name"
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return "id"
    return None


def _labelled(records: list[Record], field: str) -> list[tuple[Record, Any]] | None:
    """(record, label) for every record, or None when no record has one (a prediction set); null and "" are no
    label. Some records with a label and some without is an error."""
    values = [(record, record.fields.get(field)) for record in records]
    present = [(record, value) for record, value in values if value is not None and value != ""]
    if not present:
        return None
    if len(present) < len(values):
        missing = next(record for record, value in values if value is None or value == "")
        raise DataError(f"{missing.where}: no field {field!r} (the record has fields {_fields(missing)}), but "
                        f"{present[0][0].where} has one; label every record, or none (a prediction set).")
    return present


def _encode_pairs(tokenizer: AlbertTokenizer, texts: list[str], pairs: list[str | None], length: int) -> list[dict]:
    """One row per text, `[CLS] text [SEP] (pair [SEP])`, truncated longest-first to `length` tokens."""
    rows: list[dict] = [{}] * len(texts)
    for paired in (False, True):  # one tokenizer call takes only pairs or only single texts
        chosen = [i for i, pair in enumerate(pairs) if (pair is not None) == paired]
        if chosen:
            encoding = tokenizer([texts[i] for i in chosen], [pairs[i] for i in chosen] if paired else None,
                                 truncation="longest_first", max_length=length, return_tensors=None)
            for i, ids, types in zip(chosen, encoding["input_ids"], encoding["token_type_ids"]):
                rows[i] = _row(ids, types)
    return rows


# ----------------------------------------------------------------------------------------- sequence classification
def _label_kind(record: Record, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return "number"
    raise _wrong(record, "label", value, "a class name (str), a class id (int), a number (regression) or a list of "
                 "names or ids (multi-label)")


def _infer_problem(labelled: list[tuple[Record, Any]]) -> str:
    """HF's problem types from the labels' kind: lists multi-label, non-integer numbers (also as CSV text)
    regression, else single-label."""
    first_record, first = labelled[0]
    kind = _label_kind(first_record, first)
    for record, value in labelled:
        if _label_kind(record, value) != kind:
            raise DataError(
                f"{record.where}: label {short_repr(value)} is a {_label_kind(record, value)}, but "
                f"{first_record.where} has the {kind} {short_repr(first)}; the labels of one data set are all class "
                "names, all class ids or numbers, or all lists (multi-label). Make them one kind, or pass problem_type."
            )
    values = [value for _, value in labelled]
    if kind == "list":
        return "multi_label_classification"
    if kind == "number":
        fractional = any(not float(value).is_integer() for value in values)
    else:  # CSV cells are text: "3.8" is a similarity score, "2" a class
        fractional = all(_FLOAT_TEXT.fullmatch(v) for v in values) and not all(_INT_TEXT.fullmatch(v) for v in values)
    return "regression" if fractional else "single_label_classification"


def _number(record: Record, value: Any) -> float:
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value):
        raise _wrong(record, "label", value, "a finite number (problem_type regression)")
    return float(value)


def encode_text_classification(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int,
                               label_names: list[str] | None = None, problem_type: str | None = None) -> Features:
    """Rows of `text` (and `text_pair`) with their `label`: a class name or id (single-label, int64 scalar), a
    number (regression, float32 scalar) or a list of names or ids (multi-label, float32 multi-hot [L]).

    The problem type is inferred from the labels unless given; the label names are `label_names` if given (the
    train set's or a fine-tuned model's; ignored for regression), else the data's, sorted. Records without labels
    (all of them: a prediction set) give rows without `labels`.
    """
    length = _check_max_seq_length(max_seq_length)
    given = _check_label_names(label_names)
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ConfigError(f"problem_type must be None (inferred from the labels) or one of {PROBLEM_TYPES}, got "
                          f"{short_repr(problem_type)}.")
    records = _as_records(records)
    reads = "'text' (str), optionally 'text_pair' (str), and 'label'"
    texts = [_text(record, "text", reads) for record in records]
    pairs = [_text(record, "text_pair", reads, optional=True) for record in records]
    rows = _encode_pairs(tokenizer, texts, pairs, length)
    labelled = _labelled(records, "label")
    features = Features(SEQUENCE_CLASSIFICATION, rows, np.arange(len(rows)), given, problem_type)
    if labelled is None:
        return features
    features.problem_type = problem = problem_type or _infer_problem(labelled)
    if problem == "regression":
        features.label_names = None
        for row, (record, value) in zip(rows, labelled):
            row["labels"] = np.asarray(_number(record, value), dtype=np.float32)
        return features
    if problem == "single_label_classification":
        label_map = _LabelMap(labelled, given, "label")
        for row, (record, value) in zip(rows, labelled):
            row["labels"] = np.asarray(label_map(record, value), dtype=np.int64)
    else:
        for record, value in labelled:
            if not isinstance(value, (list, tuple)):
                raise _wrong(record, "label", value, "a list of class names or ids (multi-label)",
                             'e.g. ["sports", "politics"], or [] for none')
        flat = [(record, name) for record, value in labelled for name in value]
        if not flat and given is None:
            raise DataError("no record has a label in its list (every 'label' is []); pass label_names.")
        label_map = _LabelMap(flat, given, "label")
        for row, (record, value) in zip(rows, labelled):
            hot = np.zeros(len(label_map.names), dtype=np.float32)
            hot[[label_map(record, name) for name in value]] = 1.0
            row["labels"] = hot
    features.label_names = label_map.names
    return features


# --------------------------------------------------------------------------------------------- token classification
def encode_token_classification(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int,
                                label_names: list[str] | None = None) -> Features:
    """Rows of the words in `tokens`, labelled with `tags` (one per word): the tag id on each word's first
    sub-token, -100 on its other sub-tokens and on [CLS]/[SEP] (as HF's run_ner). `meta["word_ids"]`: per row, the
    word of each token (-1 for [CLS]/[SEP]), to map predictions back to words."""
    length = _check_max_seq_length(max_seq_length)
    given = _check_label_names(label_names)
    records = _as_records(records)
    reads = "'tokens' (a list of words) and 'tags' (a list of one tag per word)"
    words = [_strings(record, "tokens", reads, '["EU", "rejects", "German", "call"]') for record in records]
    tagged = _labelled(records, "tags")
    if tagged is not None:
        for (record, tags), row_words in zip(tagged, words):
            if not isinstance(tags, (list, tuple)) or len(tags) != len(row_words):
                raise _wrong(record, "tags", tags, f"a list of {len(row_words)} tags (one per word of 'tokens')")
        label_map = _LabelMap([(record, tag) for record, tags in tagged for tag in tags], given, "tag")
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=length, return_tensors=None)
    rows, word_ids = [], []
    for index, (ids, types) in enumerate(zip(encoding["input_ids"], encoding["token_type_ids"])):
        row = _row(ids, types)
        words_of = np.asarray([-1 if word is None else word for word in encoding.word_ids(index)], dtype=np.int64)
        if tagged is not None:
            record, tags = tagged[index]
            tag_ids = np.asarray([label_map(record, tag) for tag in tags], dtype=np.int64)
            first = (words_of >= 0) & (words_of != np.concatenate([[-1], words_of[:-1]]))
            row["labels"] = np.where(first, tag_ids[np.maximum(words_of, 0)], -100)
        rows.append(row)
        word_ids.append(words_of)
    names = label_map.names if tagged is not None else given
    return Features(TOKEN_CLASSIFICATION, rows, np.arange(len(rows)), names, meta={"word_ids": word_ids})


# -------------------------------------------------------------------------------------------------- multiple choice
def _choice_label(record: Record, value: Any, count: int) -> int:
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _wrong(record, "label", value, f"an int, the index of the right choice in [0, {count})")
    if not 0 <= value < count:
        raise DataError(f"{record.where}: field 'label' is {short_repr(value)}, outside [0, {count}) (the record has "
                        f"{count} choices); the label is the index of the right choice, counting from 0.")
    return int(value)


def encode_multiple_choice(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int) -> Features:
    """Rows of [C, S] arrays, `[CLS] context [SEP] choice [SEP]` for each of the C `choices` (padded to the row's
    longest, `attention_mask` 0 there), and `labels`, the index of the right choice."""
    length = _check_max_seq_length(max_seq_length)
    records = _as_records(records)
    reads = "'context' (str), 'choices' (a list of str) and 'label' (the index of the right choice)"
    contexts = [_text(record, "context", reads) for record in records]
    choices = [_strings(record, "choices", reads, '["he read at home.", "books."]') for record in records]
    count = len(choices[0])
    for record, row_choices in zip(records, choices):
        if len(row_choices) != count:
            raise DataError(f"{record.where}: field 'choices' has {len(row_choices)} choices, but {records[0].where} "
                            f"has {count}; every record of a data set needs the same number of choices.")
    labelled = _labelled(records, "label")
    flat = _encode_pairs(tokenizer, [c for c in contexts for _ in range(count)], [c for cs in choices for c in cs],
                         length)
    rows = []
    for index in range(len(records)):
        parts = flat[index * count:(index + 1) * count]
        width = max(len(part["input_ids"]) for part in parts)
        row = {}
        for name, fill in (("input_ids", tokenizer.pad_token_id), ("token_type_ids", 0), ("attention_mask", 0)):
            row[name] = np.full((count, width), fill, dtype=np.int64)
            for choice, part in enumerate(parts):
                row[name][choice, :len(part[name])] = part[name]
        if labelled is not None:
            record, value = labelled[index]
            row["labels"] = np.asarray(_choice_label(record, value, count), dtype=np.int64)
        rows.append(row)
    return Features(MULTIPLE_CHOICE, rows, np.arange(len(rows)))


# ------------------------------------------------------------------------------------------------------ masked LM
def encode_masked_lm(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int) -> Features:
    """Each `text` as consecutive windows of up to `max_seq_length - 2` tokens, each `[CLS] ... [SEP]`, so nothing
    of a long text is lost; rows have a bool `special_tokens_mask` and no labels (`masking` masks each batch).
    `example_index` gives each window's record; empty texts give no row."""
    length = _check_max_seq_length(max_seq_length)
    records = _as_records(records)
    texts = [_text(record, "text", "'text' (str)") for record in records]
    room = length - 2
    rows, example_index = [], []
    for index, ids in enumerate(tokenizer(texts, add_special_tokens=False, return_tensors=None)["input_ids"]):
        for start in range(0, len(ids), room):
            window = [tokenizer.cls_token_id, *ids[start:start + room], tokenizer.sep_token_id]
            row = _row(window, [0] * len(window))
            row["special_tokens_mask"] = np.arange(len(window)) % (len(window) - 1) == 0  # [CLS] and [SEP]
            rows.append(row)
            example_index.append(index)
    if not rows:
        raise DataError(f"none of the {len(records)} texts ({records[0].where} to {records[-1].where}) has a token; "
                        "pass a data set with text in it.")
    return Features(MASKED_LM, rows, np.asarray(example_index, dtype=np.int64))
