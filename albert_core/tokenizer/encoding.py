"""The public encoding API of ``AlbertTokenizer`` (HF-shaped): argument checks, ``__call__``, decode, tokens."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import TokenizerError, TokenizerTypeError
from .arguments import (
    TENSOR_TYPES,
    as_batch,
    as_ids,
    as_word_batch,
    check_positive_int,
    check_text,
    padding_mode,
    to_tensors,
    truncation_strategy,
)
from .packing import BatchEncoding, Offsets, PackOptions, pack_batch
from .spiece import _abbrev
from .text import needs_digit_comma_split, split_digit_comma


class EncodingMixin:
    """Needs ``_encode_texts``, ``_sp``, ``_splitter``, the special token ids and ``model_max_length``."""

    def _pack_options(
        self,
        padding: object,
        truncation: object,
        max_length: object,
        pad_to_multiple_of: object,
        is_pair: bool,
        add_special_tokens: bool,
        return_offsets_mapping: bool,
        return_special_tokens_mask: bool,
        return_overflowing_tokens: bool = False,
        stride: int = 0,
    ) -> PackOptions:
        mode = padding_mode(padding)
        strategy = truncation_strategy(truncation)
        if max_length is not None:
            check_positive_int("max_length", max_length)
            max_length = int(max_length)
            if truncation is None and mode is None:
                strategy = "longest_first"  # as HF: a max_length alone means truncation
        elif strategy is not None or mode == "max_length":
            max_length = self.model_max_length
        if pad_to_multiple_of is not None:
            check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise TokenizerError(f"stride must be an int >= 0 (tokens shared by consecutive windows), got "
                                 f"{_abbrev(stride)}.")
        if strategy is not None and mode is not None and pad_to_multiple_of and \
                max_length % pad_to_multiple_of:
            raise TokenizerError(
                f"max_length={max_length} truncates and pad_to_multiple_of={pad_to_multiple_of} pads past it; pass a "
                "max_length that is a multiple of pad_to_multiple_of (as HF requires), or no truncation."
            )
        if strategy == "only_second" and not is_pair:
            raise TokenizerError(
                "truncation='only_second' truncates text_pair, but no text_pair was given; use "
                "truncation=True ('longest_first') or 'only_first'."
            )
        needed = (3 if is_pair else 2) if add_special_tokens else 0
        if strategy is not None and max_length < needed:
            raise TokenizerError(
                f"max_length={max_length} is smaller than the {needed} special tokens every "
                f"{'pair' if is_pair else 'text'} needs; pass max_length >= {needed}."
            )
        return PackOptions(
            cls_id=self.cls_token_id,
            sep_id=self.sep_token_id,
            pad_id=self.pad_token_id,
            add_special_tokens=bool(add_special_tokens),
            truncation=strategy,
            max_length=max_length,
            padding=mode,
            pad_to_multiple_of=pad_to_multiple_of and int(pad_to_multiple_of),
            return_offsets_mapping=bool(return_offsets_mapping),
            return_special_tokens_mask=bool(return_special_tokens_mask),
            return_overflowing_tokens=bool(return_overflowing_tokens),
            stride=int(stride),
        )

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[Sequence[str]],
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        add_special_tokens: bool = True,
        return_tensors: str | None = "np",
        *,
        is_split_into_words: bool = False,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        return_length: bool = False,
        return_attention_mask: bool | None = None,
        return_token_type_ids: bool | None = None,
    ) -> BatchEncoding:
        """Encode a text, a pair, or batches of them (lists of words with ``is_split_into_words=True``); see
        docs/tokenizer.md for every argument and the output shapes."""
        if return_tensors not in ("np", None, *TENSOR_TYPES):
            raise TokenizerError(
                f"return_tensors must be 'np', 'pt', 'tf', 'jax' or None, got {_abbrev(return_tensors)}."
            )
        split = as_word_batch if is_split_into_words else as_batch
        single, firsts = split("text", text)
        seconds = None
        if text_pair is not None:
            pair_single, seconds = split("text_pair", text_pair)
            if pair_single != single or len(seconds) != len(firsts):
                raise TokenizerError(
                    f"text_pair must match text: a str for a str, a list of the same length for a list; got "
                    f"{len(firsts)} text(s) and {len(seconds)} text_pair(s). Pass one second text per text."
                )
        options = self._pack_options(
            padding,
            truncation,
            max_length,
            pad_to_multiple_of,
            seconds is not None,
            add_special_tokens,
            return_offsets_mapping,
            return_special_tokens_mask,
            return_overflowing_tokens,
            stride,
        )
        count = len(firsts)
        texts = firsts + (seconds or [])
        if is_split_into_words:
            ids, spans, word_lists = self._encode_words(texts, return_offsets_mapping)
        else:
            ids, spans = self._encode_texts(texts, return_offsets_mapping)
            word_lists = None

        def words(sample: int, part: int) -> list[int]:  # part 0: the first text, 1: the second
            index = sample + part * count
            return word_lists[index] if word_lists is not None else self._piece_words(ids[index])

        arrays, lengths, target, layout = pack_batch(
            ids[:count],
            ids[count:] if seconds is not None else None,
            spans[:count] if spans is not None else None,
            spans[count:] if spans is not None and seconds is not None else None,
            options,
            words,
        )
        for name, wanted in (("attention_mask", return_attention_mask), ("token_type_ids", return_token_type_ids)):
            if wanted is not None and not wanted:
                del arrays[name]
        if return_length:
            arrays["length"] = layout.widths.astype(np.int64)  # padded lengths, as HF fast
        if return_tensors is not None:
            ragged = (options.padding is None and len(lengths) and lengths.min() != lengths.max()) or (
                options.padding is not None and len(lengths) and int(lengths.max()) > target
            )
            if ragged:
                raise TokenizerError(
                    f"return_tensors={return_tensors!r} needs equal lengths, but the encoded lengths range from "
                    f"{int(lengths.min())} to {int(lengths.max())} (padding={padding!r}, target {target}); pass "
                    "padding=True and/or truncation=True, or return_tensors=None for lists."
                )
            return BatchEncoding(arrays if return_tensors == "np" else to_tensors(arrays, return_tensors), layout)
        per_input = ("length", "overflow_to_sample_mapping")  # one value per row, not per token
        per_row = {name: array for name, array in arrays.items() if name not in per_input}
        widths = layout.widths.tolist()
        lists = {name: [row[:size].tolist() for row, size in zip(array, widths)]
                 for name, array in per_row.items()}
        lists.update({name: arrays[name].tolist() for name in arrays if name not in per_row})
        if single and not options.return_overflowing_tokens:  # HF fast keeps the windows of one input batched
            lists = {name: rows[0] for name, rows in lists.items()}
        return BatchEncoding(lists, layout)

    def _encode_words(
        self, examples: list[list[str]], with_offsets: bool
    ) -> tuple[list[list[int]], list[Offsets] | None, list[list[int]]]:
        """Each example's words encoded one by one (as HF does with ``is_split_into_words``) and joined: ids,
        spans within each word, and the index of the word of every token."""
        flat = [word for words in examples for word in words]
        ids, spans = self._encode_texts(flat, with_offsets)
        out_ids, out_spans, out_words, position = [], [], [], 0
        for words in examples:
            row_ids, row_spans, row_words = [], [], []
            for number in range(len(words)):
                row_ids += ids[position]
                row_words += [number] * len(ids[position])
                if spans is not None:
                    row_spans += spans[position]
                position += 1
            out_ids.append(row_ids)
            out_spans.append(row_spans)
            out_words.append(row_words)
        return out_ids, (out_spans if with_offsets else None), out_words

    @functools.cached_property
    def _word_starts(self) -> np.ndarray:
        """Per vocabulary id: the piece starts a word (SentencePiece's "▁"), or is a special token (its own word)."""
        starts = np.array([self._sp.id_to_piece(i).startswith("\u2581") for i in range(self.vocab_size)])
        starts[self.all_special_ids] = True
        return starts

    def _piece_words(self, ids: list[int]) -> list[int]:
        """The word index of each token of a text: a new word at every word-start piece."""
        if not ids:
            return []
        starts = self._word_starts[np.asarray(ids)]
        starts[0] = True
        return (np.cumsum(starts) - 1).tolist()

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        truncation: bool | str | None = None,
        max_length: int | None = None,
    ) -> list[int]:
        """The ids of one text (or pair) as a list."""
        check_text("text", text)
        encoding = self(
            text,
            text_pair,
            truncation=truncation,
            max_length=max_length,
            add_special_tokens=add_special_tokens,
            return_tensors=None,
        )
        return encoding["input_ids"]

    def encode_multiple_choice(
        self,
        contexts: str | Sequence[str],
        choices: Sequence[str] | Sequence[Sequence[str]],
        padding: bool | str = True,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Pair each context with each of its N choices; arrays are shaped (batch, N, seq).

        ``contexts`` is one str with ``choices`` a list of str, or a list of str with one list of choices each
        (all the same length). Other keyword arguments are those of ``__call__`` (not ``return_tensors``).
        """
        if "return_tensors" in kwargs:
            raise TokenizerError("encode_multiple_choice always returns NumPy arrays; drop return_tensors=.")
        if isinstance(contexts, str):
            contexts, choices = [contexts], [choices]
        _, contexts = as_batch("contexts", contexts)
        if not isinstance(choices, (list, tuple)) or len(choices) != len(contexts):
            raise TokenizerError(
                f"choices must hold one list of choices per context ({len(contexts)}), got {_abbrev(choices)}."
            )
        num_choices = None
        flat_choices: list[str] = []
        for index, row in enumerate(choices):
            single, row_texts = as_batch(f"choices[{index}]", row)
            if single or not row_texts or (num_choices is not None and len(row_texts) != num_choices):
                raise TokenizerError(
                    f"choices[{index}] must be a non-empty list of str with as many choices as choices[0] "
                    f"({num_choices}), got {_abbrev(row)}."
                )
            num_choices = len(row_texts)
            flat_choices.extend(row_texts)
        firsts = [context for context in contexts for _ in range(num_choices or 0)]
        encoding = self(firsts, flat_choices, padding=padding, return_tensors="np", **kwargs)
        batch, n = len(contexts), num_choices or 0
        return BatchEncoding({k: v.reshape(batch, n, *v.shape[1:]) for k, v in encoding.items()})

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text`` (no [CLS]/[SEP] added); unknown pieces show their text, as in the reference."""
        check_text("text", text)
        pieces: list[str] = []
        for begin, end, special_id in self._splitter.split(text, self.text_options.do_lower_case):
            if special_id is not None:
                pieces.append(self._sp.id_to_piece(special_id))
                continue
            for piece in self._sp.encode(self.preprocess_text(text[begin:end]), out_type=str):
                if needs_digit_comma_split(piece):
                    pieces.extend(split_digit_comma(piece, lambda t: self._sp.encode(t, out_type=str)))
                else:
                    pieces.append(piece)
        return pieces

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Piece(s) to id(s); pieces not in the vocabulary give ``unk_token_id``."""
        if isinstance(tokens, str):
            return self._sp.piece_to_id(tokens)
        _, tokens = as_batch("tokens", tokens)
        return [self._sp.piece_to_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        single = isinstance(ids, (int, np.integer)) and not isinstance(ids, bool)
        id_list = self._checked_ids("ids", ids)
        if skip_special_tokens:
            id_list = [i for i in id_list if i not in self._special_id_set]
        tokens = [self._sp.id_to_piece(i) for i in id_list]
        return tokens[0] if single and tokens else tokens

    def _checked_ids(self, name: str, ids: object) -> list[int]:
        id_list = as_ids(name, ids)
        size = self.vocab_size
        for position, value in enumerate(id_list):
            if not 0 <= value < size:
                raise TokenizerError(
                    f"{name}[{position}]={value} is outside the vocabulary [0, {size}); pass ids from this "
                    "tokenizer's vocabulary."
                )
        return id_list

    def decode(self, token_ids: int | Sequence[int] | np.ndarray, skip_special_tokens: bool = False) -> str:
        """Text of the ids; special tokens appear as written (``[CLS]``) unless skipped, as in the reference."""
        ids = self._checked_ids("token_ids", token_ids)
        special = self._special_id_set
        if skip_special_tokens:
            ids = [i for i in ids if i not in special]
        text, run, previous_special = "", [], False
        for token_id in ids:
            if token_id in special:
                text += ("" if previous_special else " ") + self._sp.decode(run) + self._sp.id_to_piece(token_id)
                run, previous_special = [], True
            else:
                run.append(token_id)
                previous_special = False
        return (text + self._sp.decode(run)).strip()

    def batch_decode(
        self, sequences: Sequence[Sequence[int]] | np.ndarray, skip_special_tokens: bool = False
    ) -> list[str]:
        if isinstance(sequences, np.ndarray) and sequences.ndim != 2:
            raise TokenizerTypeError(f"sequences must be 2-D (batch, seq), got shape {sequences.shape}.")
        if not isinstance(sequences, (list, tuple, np.ndarray)):
            raise TokenizerTypeError(f"sequences must be a list of id lists, got {_abbrev(sequences)}.")
        return [self.decode(s, skip_special_tokens=skip_special_tokens) for s in sequences]
