"""Truncation, special tokens and padding for the ALBERT tokenizer: token id lists in, model-ready arrays out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from ..errors import TokenizerError

Offsets = list[tuple[int, int]]
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")


class BatchEncoding(dict):
    """The tokenizer's output: a dict of arrays, tensors or lists that also allows attribute access
    (``enc.input_ids``), with HF's ``word_ids(i)`` / ``sequence_ids(i)`` and, for PyTorch tensors, ``.to(device)``."""

    def __init__(self, data: dict[str, Any] | None = None, layout: RowLayout | None = None) -> None:
        super().__init__(data or {})
        self._layout = layout

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {name!r}; fields: {sorted(self)}") from None

    def _row(self, batch_index: int) -> int:
        if self._layout is None:
            raise TokenizerError("this encoding has no row layout (it was built by hand, not by the tokenizer)")
        rows = len(self._layout)
        if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)) or \
                not -rows <= batch_index < rows:
            raise TokenizerError(f"batch_index must be an int in [0, {rows}) (the encoding's rows), got "
                                 f"{batch_index!r}")
        return int(batch_index) % rows

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token of row `batch_index`: 0 for the first text, 1 for the second, None for special and padding
        tokens (as HF's fast tokenizer)."""
        return self._layout.sequence_ids(self._row(batch_index))

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token of row `batch_index`: the index of the word it belongs to (with ``is_split_into_words``, the
        index in the given list of words; else the count of SentencePiece word starts before it), None for special
        and padding tokens. Each text of a pair counts its words from 0, as HF's fast tokenizer does."""
        return self._layout.word_ids(self._row(batch_index))

    def to(self, device: Any) -> BatchEncoding:
        """Move every PyTorch tensor to `device` (in place, returning self), as HF's ``BatchEncoding.to``."""
        moved = {k: v.to(device) for k, v in self.items() if hasattr(v, "to") and type(v).__module__ == "torch"}
        if len(moved) != len(self):
            raise TokenizerError("BatchEncoding.to(device) moves PyTorch tensors; encode with return_tensors='pt'")
        self.update(moved)
        return self


@dataclass
class RowLayout:
    """Which tokens of each output row came from which text, kept to answer `word_ids` and `sequence_ids` on
    demand: the default path builds no per-token Python lists."""

    add_special_tokens: bool
    is_pair: bool
    widths: np.ndarray  # tokens per row, padding included
    samples: list[int] | None  # per row: the input it came from (None: row i is input i)
    cuts: dict[int, tuple[tuple[int, int], tuple[int, int] | None]]  # rows holding part of a text: their ranges
    words: Callable[[int, int], list[int]]  # (input, 0 or 1) -> the word index of every token of that text

    def __len__(self) -> int:
        return len(self.widths)

    def _parts(self, row: int, words: bool) -> list[int | None]:
        special: list[list[int | None]] = [[None]] if self.add_special_tokens else []
        sample = row if self.samples is None else self.samples[row]
        parts = []
        for part in (0, 1) if self.is_pair else (0,):
            start, stop = self.cuts[row][part] if row in self.cuts else (0, None)
            values = self.words(sample, part)[start:stop]
            parts += [*special, values if words else [part] * len(values)]
        flat = [value for values in parts + special for value in values]
        return flat + [None] * (int(self.widths[row]) - len(flat))

    def sequence_ids(self, row: int) -> list[int | None]:
        return self._parts(row, words=False)

    def word_ids(self, row: int) -> list[int | None]:
        return self._parts(row, words=True)


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
    return_overflowing_tokens: bool = False  # every window of a truncated text, `stride` tokens overlapping
    stride: int = 0


def _kept_lengths(len_first: int, len_second: int | None, excess: int, strategy: str,
                  index: int) -> tuple[int, int | None]:
    """How many tokens of each text stay when ``excess`` must go, following the reference's strategies."""
    if strategy == "longest_first" and len_second is not None:
        # The reference drops one token at a time from the longer sequence (the second on ties); closed form:
        gap = min(abs(len_first - len_second), excess)
        if len_first > len_second:
            len_first -= gap
        else:
            len_second -= gap
        rest = excess - gap
        return len_first - rest // 2, len_second - (rest + 1) // 2
    if strategy == "only_second":
        if len_second is None:
            raise TokenizerError(
                f"truncation='only_second' needs text_pair, but example {index} has no second text; "
                "use truncation='longest_first' or 'only_first' for single texts."
            )
        if excess > len_second:
            raise TokenizerError(
                f"truncation='only_second': example {index} must lose {excess} tokens but its second text has "
                f"only {len_second}; raise max_length or use truncation='longest_first'."
            )
        return len_first, len_second - excess
    if excess > len_first:  # only_first, or longest_first with a single text
        raise TokenizerError(
            f"truncation={strategy!r}: example {index} must lose {excess} tokens but its first text has only "
            f"{len_first}; raise max_length or use truncation='longest_first'."
        )
    return len_first - excess, len_second


def windows(length: int, room: int, stride: int, index: int) -> list[tuple[int, int]]:
    """HF fast's overflow windows over ``length`` tokens: ``room`` tokens each, starting every ``room - stride``
    tokens, the last one ending at the end."""
    if length <= room:
        return [(0, length)]
    if stride >= room:
        raise TokenizerError(
            f"stride={stride} must be smaller than the {room} tokens a window of example {index} holds (max_length "
            "minus the special tokens and the text that is kept whole); pass a smaller stride or a larger max_length."
        )
    out, start = [], 0
    while True:
        stop = min(start + room, length)
        out.append((start, stop))
        if stop == length:
            return out
        start += room - stride


def _row_ranges(len_first: int, len_second: int | None, options: PackOptions, index: int) -> list[tuple]:
    """For an input longer than max_length: the ((start, stop) of the first text, (start, stop) of the second or
    None) of each row it becomes."""
    n_special = (3 if len_second is not None else 2) if options.add_special_tokens else 0
    whole = ((0, len_first), None if len_second is None else (0, len_second))
    excess = len_first + (len_second or 0) + n_special - options.max_length
    kept_first, kept_second = _kept_lengths(len_first, len_second, excess, options.truncation, index)
    if not options.return_overflowing_tokens:
        return [((0, kept_first), None if len_second is None else (0, kept_second))]
    if kept_first < len_first and len_second is not None and kept_second < len_second:
        raise TokenizerError(
            f"return_overflowing_tokens: example {index} would have to cut both texts; windows keep one text whole, "
            "so pass truncation='only_second' (or 'only_first') with a max_length that fits the other text."
        )
    if kept_first < len_first:
        return [(part, whole[1]) for part in windows(len_first, kept_first, options.stride, index)]
    return [((0, len_first), part) for part in windows(len_second, kept_second, options.stride, index)]


def pack_batch(
    firsts: list[list[int]],
    seconds: list[list[int]] | None,
    first_offsets: list[Offsets] | None,
    second_offsets: list[Offsets] | None,
    options: PackOptions,
    words: Callable[[int, int], list[int]],
) -> tuple[dict[str, np.ndarray], np.ndarray, int, RowLayout]:
    """Rows of ``[CLS] A [SEP] (B [SEP])``, truncated (or cut into overlapping windows) and padded into int64
    arrays of shape (rows, width); ``words(input, text)`` gives the word index of each token of a text.

    Returns the arrays, each row's real length, the padded target width (rows longer than it stay longer:
    the caller decides whether that is an error) and the rows' layout.
    """
    is_pair = seconds is not None
    n_special = (3 if is_pair else 2) if options.add_special_tokens else 0
    cls, sep = [options.cls_id], [options.sep_id]
    zero_span = [(0, 0)]
    rows: list[list[int]] = []
    split_points: list[int] = []  # where token type 1 starts (the row length for single texts)
    span_rows: list[Offsets] = []
    samples: list[int] | None = [] if options.return_overflowing_tokens else None
    cuts: dict[int, tuple[tuple[int, int], tuple[int, int] | None]] = {}
    for index, first_all in enumerate(firsts):
        second_all = seconds[index] if is_pair else None
        over = options.truncation is not None and \
            len(first_all) + (len(second_all) if is_pair else 0) + n_special > options.max_length
        ranges = _row_ranges(len(first_all), len(second_all) if is_pair else None, options, index) if over \
            else [None]
        for cut in ranges:  # None: the whole input in one row
            if cut is None:
                first, second = first_all, second_all
                if first_offsets is not None:
                    first_spans = first_offsets[index]
                    second_spans = second_offsets[index] if is_pair else None
            else:
                (f0, f1), second_range = cut
                cuts[len(rows)] = cut
                first = first_all[f0:f1]
                second = second_all[second_range[0]:second_range[1]] if is_pair else None
                if first_offsets is not None:
                    first_spans = first_offsets[index][f0:f1]
                    second_spans = second_offsets[index][second_range[0]:second_range[1]] if is_pair else None
            if samples is not None:
                samples.append(index)
            if options.add_special_tokens:
                row = cls + first + sep + (second + sep if is_pair else [])
                split_points.append(len(first) + 2)
                if first_offsets is not None:
                    spans = zero_span + first_spans + zero_span
                    span_rows.append(spans + second_spans + zero_span if is_pair else spans)
            else:
                row = first + second if is_pair else first
                split_points.append(len(row))  # the reference gives both texts type 0 without special tokens
                if first_offsets is not None:
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
    if options.return_overflowing_tokens:
        arrays["overflow_to_sample_mapping"] = np.asarray(samples, dtype=np.int64)
    widths = lengths if options.padding is None else np.maximum(lengths, target)
    layout = RowLayout(options.add_special_tokens, is_pair, widths, samples, cuts, words)
    return arrays, lengths, target, layout
