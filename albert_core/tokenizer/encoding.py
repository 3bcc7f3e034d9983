"""The public encoding API of ``AlbertTokenizer`` (HF-shaped): argument checks, ``__call__``, decode, tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import TokenizerError, TokenizerTypeError
from .packing import TRUNCATION_STRATEGIES, BatchEncoding, PackOptions, pack_batch
from .spiece import _abbrev
from .text import needs_digit_comma_split, split_digit_comma

_PADDING_MODES = {"longest": "longest", "max_length": "max_length", "do_not_pad": None}


def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise TokenizerError(f"{name} must be a positive int, got {_abbrev(value)}; pass e.g. {name}=128.")


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TokenizerTypeError(
            f"{name} must be a str, got {type(value).__name__} {_abbrev(value)}; convert it to a string "
            "(or drop the entry) before tokenizing."
        )
    return value


def _as_batch(name: str, value: object) -> tuple[bool, list[str]]:
    """(is_single, texts) for a string or a list/tuple of strings."""
    if isinstance(value, str):
        return True, [value]
    if not isinstance(value, (list, tuple)):
        raise TokenizerTypeError(f"{name} must be a str or a list of str, got {type(value).__name__} {_abbrev(value)}.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            _check_text(f"{name}[{index}]", item)
    return False, list(value)


def _padding_mode(padding: object) -> str | None:
    if isinstance(padding, bool):
        return "longest" if padding else None
    if isinstance(padding, str) and padding in _PADDING_MODES:
        return _PADDING_MODES[padding]
    raise TokenizerError(
        f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {_abbrev(padding)}."
    )


def _truncation_strategy(truncation: object) -> str | None:
    if truncation is None or truncation is False or truncation == "do_not_truncate":
        return None
    if truncation is True:
        return "longest_first"
    if isinstance(truncation, str) and truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise TokenizerError(
        f"truncation must be True, False, None or one of {TRUNCATION_STRATEGIES}, got {_abbrev(truncation)}."
    )


def _as_ids(name: str, value: object) -> list[int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
            raise TokenizerTypeError(f"{name} must be a 1-D integer array, got {value.dtype} {value.shape}.")
        return value.tolist()
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return [int(v) for v in value]
    raise TokenizerTypeError(f"{name} must be an int or a sequence of ints, got {_abbrev(value)}.")


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
    ) -> PackOptions:
        padding_mode = _padding_mode(padding)
        strategy = _truncation_strategy(truncation)
        if max_length is not None:
            _check_positive_int("max_length", max_length)
            max_length = int(max_length)
            if truncation is None and padding_mode is None:
                strategy = "longest_first"  # as HF: a max_length alone means truncation
        elif strategy is not None or padding_mode == "max_length":
            max_length = self.model_max_length
        if pad_to_multiple_of is not None:
            _check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
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
            padding=padding_mode,
            pad_to_multiple_of=pad_to_multiple_of and int(pad_to_multiple_of),
            return_offsets_mapping=bool(return_offsets_mapping),
            return_special_tokens_mask=bool(return_special_tokens_mask),
        )

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        add_special_tokens: bool = True,
        return_tensors: str | None = "np",
    ) -> BatchEncoding:
        """Encode a text, a pair, or batches of them; see the module docstring for the output shapes."""
        if return_tensors not in ("np", None):
            raise TokenizerError(
                f"return_tensors must be 'np' or None, got {_abbrev(return_tensors)}; the arrays are NumPy, "
                "convert them with your framework (torch.from_numpy, jnp.asarray, tf.convert_to_tensor)."
            )
        single, firsts = _as_batch("text", text)
        seconds = None
        if text_pair is not None:
            pair_single, seconds = _as_batch("text_pair", text_pair)
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
        )
        ids, spans = self._encode_texts(firsts + (seconds or []), return_offsets_mapping)
        count = len(firsts)
        arrays, lengths, target = pack_batch(
            ids[:count],
            ids[count:] if seconds is not None else None,
            spans[:count] if spans is not None else None,
            spans[count:] if spans is not None and seconds is not None else None,
            options,
        )
        if return_tensors == "np":
            ragged = (options.padding is None and len(lengths) and lengths.min() != lengths.max()) or (
                options.padding is not None and len(lengths) and int(lengths.max()) > target
            )
            if ragged:
                raise TokenizerError(
                    f"return_tensors='np' needs equal lengths, but the encoded lengths range from "
                    f"{int(lengths.min())} to {int(lengths.max())} (padding={padding!r}, target {target}); pass "
                    "padding=True and/or truncation=True, or return_tensors=None for lists."
                )
            return BatchEncoding(arrays)
        keep = lengths if options.padding is None else np.maximum(lengths, target)
        lists = {name: [row[:size].tolist() for row, size in zip(array, keep)] for name, array in arrays.items()}
        if single:
            lists = {name: rows[0] for name, rows in lists.items()}
        return BatchEncoding(lists)

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        truncation: bool | str | None = None,
        max_length: int | None = None,
    ) -> list[int]:
        """The ids of one text (or pair) as a list."""
        _check_text("text", text)
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
        _, contexts = _as_batch("contexts", contexts)
        if not isinstance(choices, (list, tuple)) or len(choices) != len(contexts):
            raise TokenizerError(
                f"choices must hold one list of choices per context ({len(contexts)}), got {_abbrev(choices)}."
            )
        num_choices = None
        flat_choices: list[str] = []
        for index, row in enumerate(choices):
            single, row_texts = _as_batch(f"choices[{index}]", row)
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
        _check_text("text", text)
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
        _, tokens = _as_batch("tokens", tokens)
        return [self._sp.piece_to_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        single = isinstance(ids, (int, np.integer)) and not isinstance(ids, bool)
        id_list = self._checked_ids("ids", ids)
        if skip_special_tokens:
            id_list = [i for i in id_list if i not in self._special_id_set]
        tokens = [self._sp.id_to_piece(i) for i in id_list]
        return tokens[0] if single and tokens else tokens

    def _checked_ids(self, name: str, ids: object) -> list[int]:
        id_list = _as_ids(name, ids)
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
