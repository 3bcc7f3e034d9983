"""Truncation, special tokens and padding for the ALBERT tokenizer: token id lists in, model-ready arrays out."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from ..errors import TokenizerError

Offsets = list[tuple[int, int]]
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")


class BatchEncoding(dict):
    """The tokenizer's output: a dict of arrays (or lists) that also allows attribute access (``enc.input_ids``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {name!r}; fields: {sorted(self)}") from None


@dataclass(frozen=True)
class PackOptions:
    cls_id: int
    sep_id: int
    pad_id: int
    add_special_tokens: bool
    truncation: str | None  # one of TRUNCATION_STRATEGIES, or None for no truncation
    max_length: int | None  # the truncation / "max_length" padding length, already defaulted
    padding: str | None  # "longest", "max_length" or None
    pad_to_multiple_of: int | None
    return_offsets_mapping: bool
    return_special_tokens_mask: bool


def _shorten(first: list, second: list | None, excess: int, strategy: str, index: int) -> tuple[list, list | None]:
    """Drop ``excess`` tokens from the ends of the sequences, following the reference's strategies."""
    if strategy == "longest_first" and second is not None:
        # The reference drops one token at a time from the longer sequence (the second on ties); closed form:
        len_first, len_second = len(first), len(second)
        gap = min(abs(len_first - len_second), excess)
        if len_first > len_second:
            len_first -= gap
        else:
            len_second -= gap
        rest = excess - gap
        len_second -= (rest + 1) // 2
        len_first -= rest // 2
        return first[:len_first], second[:len_second]
    if strategy == "only_second":
        if second is None:
            raise TokenizerError(
                f"truncation='only_second' needs text_pair, but example {index} has no second text; "
                "use truncation='longest_first' or 'only_first' for single texts."
            )
        if excess > len(second):
            raise TokenizerError(
                f"truncation='only_second': example {index} must lose {excess} tokens but its second text has "
                f"only {len(second)}; raise max_length or use truncation='longest_first'."
            )
        return first, second[: len(second) - excess]
    if excess > len(first):  # only_first, or longest_first with a single text
        raise TokenizerError(
            f"truncation={strategy!r}: example {index} must lose {excess} tokens but its first text has only "
            f"{len(first)}; raise max_length or use truncation='longest_first'."
        )
    return first[: len(first) - excess], second


def pack_batch(
    firsts: list[list[int]],
    seconds: list[list[int]] | None,
    first_offsets: list[Offsets] | None,
    second_offsets: list[Offsets] | None,
    options: PackOptions,
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Rows of ``[CLS] A [SEP] (B [SEP])``, truncated and padded into int64 arrays of shape (batch, width).

    Returns the arrays, each row's real length and the padded target width (rows longer than it stay longer:
    the caller decides whether that is an error).
    """
    is_pair = seconds is not None
    n_special = (3 if is_pair else 2) if options.add_special_tokens else 0
    cls, sep = [options.cls_id], [options.sep_id]
    zero_span = [(0, 0)]
    rows: list[list[int]] = []
    split_points: list[int] = []  # where token type 1 starts (the row length for single texts)
    span_rows: list[Offsets] = []
    for index, first in enumerate(firsts):
        second = seconds[index] if is_pair else None
        first_spans = first_offsets[index] if first_offsets is not None else None
        second_spans = second_offsets[index] if second_offsets is not None else None
        if options.truncation is not None:
            excess = len(first) + (len(second) if is_pair else 0) + n_special - options.max_length
            if excess > 0:
                first, second = _shorten(first, second, excess, options.truncation, index)
                if first_spans is not None:
                    first_spans = first_spans[: len(first)]
                    second_spans = second_spans[: len(second)] if is_pair else None
        if options.add_special_tokens:
            row = cls + first + sep + (second + sep if is_pair else [])
            split_points.append(len(first) + 2)
            if first_spans is not None:
                spans = zero_span + first_spans + zero_span
                span_rows.append(spans + second_spans + zero_span if is_pair else spans)
        else:
            row = first + second if is_pair else first
            split_points.append(len(row))  # the reference gives both texts type 0 without special tokens
            if first_spans is not None:
                span_rows.append(first_spans + second_spans if is_pair else first_spans)
        rows.append(row)

    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    longest = int(lengths.max()) if len(rows) else 0
    if options.padding == "max_length":
        target = options.max_length
    else:
        target = longest
    if options.pad_to_multiple_of and options.padding is not None and target % options.pad_to_multiple_of:
        target += options.pad_to_multiple_of - target % options.pad_to_multiple_of
    width = max(target, longest)

    positions = np.arange(width, dtype=np.int64)
    real = positions[None, :] < lengths[:, None]
    input_ids = np.full((len(rows), width), options.pad_id, dtype=np.int64)
    input_ids[real] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    split = np.asarray(split_points, dtype=np.int64)[:, None]
    arrays = {
        "input_ids": input_ids,
        "token_type_ids": ((positions[None, :] >= split) & real).astype(np.int64),
        "attention_mask": real.astype(np.int64),
    }
    if options.return_special_tokens_mask:
        if options.add_special_tokens:
            special = (positions[None, :] == 0) | (positions[None, :] == lengths[:, None] - 1)
            if is_pair:
                special |= positions[None, :] == split - 1
            arrays["special_tokens_mask"] = (special | ~real).astype(np.int64)
        else:
            arrays["special_tokens_mask"] = (~real).astype(np.int64)
    if options.return_offsets_mapping:
        offsets = np.zeros((len(rows), width, 2), dtype=np.int64)
        offsets[real] = np.asarray(list(chain.from_iterable(span_rows)), dtype=np.int64).reshape(-1, 2)
        arrays["offset_mapping"] = offsets
    return arrays, lengths, target
