"""Records -> model-ready rows for each fine-tuning task: `Features`, and one encoder per task but question
answering (`squad`); the labels' rules are in `labels`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DataError, short_repr
from ..tasks import MASKED_LM, MULTIPLE_CHOICE, PROBLEM_TYPES, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from .data import Record, read_records, string_list, text_field, wrong_type
from .labels import (
    LabelMap,
    check_label_names,
    choice_label,
    infer_problem,
    labelled_values,
    regression_label,
)

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


def _row(ids: list[int], types: list[int]) -> dict[str, np.ndarray]:
    input_ids = np.asarray(ids, dtype=np.int64)
    return {"input_ids": input_ids, "token_type_ids": np.asarray(types, dtype=np.int64),
            "attention_mask": np.ones_like(input_ids)}


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


def encode_text_classification(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int,
                               label_names: list[str] | None = None, problem_type: str | None = None) -> Features:
    """Rows of `text` (and `text_pair`) with their `label`: a class name or id (single-label, int64 scalar), a
    number (regression, float32 scalar) or a list of names or ids (multi-label, float32 multi-hot [L]).

    The problem type is inferred from the labels unless given; the label names are `label_names` if given (the
    train set's or a fine-tuned model's; ignored for regression), else the data's, sorted. Records without labels
    (all of them: a prediction set) give rows without `labels`.
    """
    length = _check_max_seq_length(max_seq_length)
    given = check_label_names(label_names)
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ConfigError(f"problem_type must be None (inferred from the labels) or one of {PROBLEM_TYPES}, got "
                          f"{short_repr(problem_type)}.")
    records = _as_records(records)
    reads = "'text' (str), optionally 'text_pair' (str), and 'label'"
    texts = [text_field(record, "text", reads) for record in records]
    pairs = [text_field(record, "text_pair", reads, optional=True) for record in records]
    rows = _encode_pairs(tokenizer, texts, pairs, length)
    labelled = labelled_values(records, "label")
    features = Features(SEQUENCE_CLASSIFICATION, rows, np.arange(len(rows)), given, problem_type)
    if labelled is None:
        return features
    features.problem_type = problem = problem_type or infer_problem(labelled)
    if problem == "regression":
        features.label_names = None
        for row, (record, value) in zip(rows, labelled):
            row["labels"] = np.asarray(regression_label(record, value), dtype=np.float32)
        return features
    if problem == "single_label_classification":
        label_map = LabelMap(labelled, given, "label")
        for row, (record, value) in zip(rows, labelled):
            row["labels"] = np.asarray(label_map(record, value), dtype=np.int64)
    else:
        for record, value in labelled:
            if not isinstance(value, (list, tuple)):
                raise wrong_type(record, "label", value, "a list of class names or ids (multi-label)",
                             'e.g. ["sports", "politics"], or [] for none')
        flat = [(record, name) for record, value in labelled for name in value]
        if not flat and given is None:
            raise DataError("no record has a label in its list (every 'label' is []); pass label_names.")
        label_map = LabelMap(flat, given, "label")
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
    given = check_label_names(label_names)
    records = _as_records(records)
    reads = "'tokens' (a list of words) and 'tags' (a list of one tag per word)"
    words = [string_list(record, "tokens", reads, '["EU", "rejects", "German", "call"]') for record in records]
    tagged = labelled_values(records, "tags")
    if tagged is not None:
        for (record, tags), row_words in zip(tagged, words):
            if not isinstance(tags, (list, tuple)) or len(tags) != len(row_words):
                raise wrong_type(record, "tags", tags, f"a list of {len(row_words)} tags (one per word of 'tokens')")
        label_map = LabelMap([(record, tag) for record, tags in tagged for tag in tags], given, "tag")
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


def encode_multiple_choice(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int) -> Features:
    """Rows of [C, S] arrays, `[CLS] context [SEP] choice [SEP]` for each of the C `choices` (padded to the row's
    longest, `attention_mask` 0 there), and `labels`, the index of the right choice."""
    length = _check_max_seq_length(max_seq_length)
    records = _as_records(records)
    reads = "'context' (str), 'choices' (a list of str) and 'label' (the index of the right choice)"
    contexts = [text_field(record, "context", reads) for record in records]
    choices = [string_list(record, "choices", reads, '["he read at home.", "books."]') for record in records]
    count = len(choices[0])
    for record, row_choices in zip(records, choices):
        if len(row_choices) != count:
            raise DataError(f"{record.where}: field 'choices' has {len(row_choices)} choices, but {records[0].where} "
                            f"has {count}; every record of a data set needs the same number of choices.")
    labelled = labelled_values(records, "label")
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
            row["labels"] = np.asarray(choice_label(record, value, count), dtype=np.int64)
        rows.append(row)
    return Features(MULTIPLE_CHOICE, rows, np.arange(len(rows)))


# ------------------------------------------------------------------------------------------------------ masked LM
def encode_masked_lm(records: Any, tokenizer: AlbertTokenizer, *, max_seq_length: int) -> Features:
    """Each `text` as consecutive windows of up to `max_seq_length - 2` tokens, each `[CLS] ... [SEP]`, so nothing
    of a long text is lost; rows have a bool `special_tokens_mask` and no labels (`masking` masks each batch).
    `example_index` gives each window's record; empty texts give no row."""
    length = _check_max_seq_length(max_seq_length)
    records = _as_records(records)
    texts = [text_field(record, "text", "'text' (str)") for record in records]
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
