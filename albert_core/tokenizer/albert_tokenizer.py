"""The ALBERT tokenizer: SentencePiece with the reference preprocessing, batched, NumPy out.

Gives exactly the ids of the reference (Google's ALBERT / HF's slow ``AlbertTokenizer``), which HF's fast (Rust)
tokenizer does not always do, and encodes batches in one multithreaded SentencePiece call.

Output shapes: with ``return_tensors="np"`` (the default) every field is a 2-D int64 array ``(batch, seq)``
(``offset_mapping``: ``(batch, seq, 2)``), also for a single string (batch 1); with ``return_tensors=None`` fields
are Python lists, flat for a single string and nested for a batch, as in HF.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import update_folder, write_atomically
from ..errors import TokenizerError, TokenizerTypeError
from .arguments import as_ids, check_positive_int, check_text
from .encoding import EncodingMixin
from .hf_files import (
    CONFIG_FILE_NAME,
    OPTION_KEYS,
    SPECIAL_TOKENS_MAP_FILE_NAME,
    TOKEN_KEYS,
    check_added_tokens,
    config_json,
    folder_argument,
    json_bytes,
    read_folder_options,
    special_tokens_map_json,
)
from .packing import BatchEncoding, Offsets
from .spiece import MODEL_FILE_NAME, _abbrev, encode_with_offsets, load_processor, resolve_model_path
from .text import (
    SpecialTokenSplitter,
    TextOptions,
    needs_digit_comma_split,
    preprocess_aligned,
    preprocess_fast,
    split_digit_comma,
)

__all__ = ["AlbertTokenizer", "BatchEncoding"]

_PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, "do_not_pad": None}


class AlbertTokenizer(EncodingMixin):
    """ALBERT's SentencePiece tokenizer with HF's options and defaults; see ``docs/tokenizer.md``."""

    model_input_names = ("input_ids", "token_type_ids", "attention_mask")

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        *,
        do_lower_case: bool = True,
        remove_space: bool = True,
        keep_accents: bool = False,
        model_max_length: int = 512,
        num_threads: int = -1,
        bos_token: str = "[CLS]",
        eos_token: str = "[SEP]",
        unk_token: str = "<unk>",
        sep_token: str = "[SEP]",
        pad_token: str = "<pad>",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
    ) -> None:
        for name, value in (
            ("do_lower_case", do_lower_case),
            ("remove_space", remove_space),
            ("keep_accents", keep_accents),
        ):
            if not isinstance(value, bool):
                raise TokenizerTypeError(f"{name} must be True or False, got {_abbrev(value)}.")
        check_positive_int("model_max_length", model_max_length)
        if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads in (0,) or num_threads < -1:
            raise TokenizerError(f"num_threads must be -1 (all cores) or >= 1, got {_abbrev(num_threads)}.")
        self.model_path = resolve_model_path(vocab_file)
        self._sp, self._serialized, vocab = load_processor(self.model_path)
        self.text_options = TextOptions(do_lower_case, remove_space, keep_accents)
        self.model_max_length = model_max_length
        self.num_threads = num_threads
        self.special_tokens: dict[str, str] = {}
        given = (bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token)
        for key, token in zip(TOKEN_KEYS, given):
            if not isinstance(token, str) or not token:
                raise TokenizerTypeError(f"{key} must be a non-empty string, got {_abbrev(token)}.")
            check_text(key, token)
            token_id = self._sp.piece_to_id(token)
            if self._sp.id_to_piece(token_id) != token:  # piece_to_id answers unk for unknown pieces
                raise TokenizerError(
                    f"{key}={token!r} is not a piece of the SentencePiece model {self.model_path}; an ALBERT "
                    f"model defines <pad> <unk> [CLS] [SEP] [MASK]. Pass {key}= with the model's own token."
                )
            self.special_tokens[key] = token
        ids = {key: self._sp.piece_to_id(token) for key, token in self.special_tokens.items()}
        self.bos_token_id, self.eos_token_id = ids["bos_token"], ids["eos_token"]
        self.unk_token_id, self.pad_token_id = ids["unk_token"], ids["pad_token"]
        self.cls_token_id, self.sep_token_id, self.mask_token_id = ids["cls_token"], ids["sep_token"], ids["mask_token"]
        # Written in text, every special token is recognised; [MASK] also swallows the spaces on its left.
        self._splitter = SpecialTokenSplitter({t: ids[k] for k, t in self.special_tokens.items()}, {mask_token})
        self.all_special_ids = sorted(set(ids.values()))
        self._special_id_set = frozenset(self.all_special_ids)
        self._digit_comma_ids = frozenset(i for i, piece in enumerate(vocab) if needs_digit_comma_split(piece))
        self._digit_comma_fix: dict[int, tuple[list[int], list[str]]] = {}

    # ----------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> AlbertTokenizer:
        """Load ``spiece.model`` from a file or folder; a folder's HF files supply the options and special tokens.

        Read as HF reads them (`hf_files.read_folder_options`); ``overrides`` win.
        """
        model_path = resolve_model_path(path)
        if not Path(path).is_dir():
            return cls(model_path, **overrides)
        options, added = read_folder_options(model_path.parent, overrides)
        tokenizer = cls(model_path, **options)
        check_added_tokens(model_path.parent / CONFIG_FILE_NAME, added, tokenizer._sp.id_to_piece,
                           tokenizer.vocab_size, tokenizer.model_path)
        return tokenizer

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write the SentencePiece model as ``[filename_prefix-]spiece.model`` into the existing ``save_directory``.

        As HF's; returns ``(path,)``. Where HF only logs an error and returns None for a folder that does not
        exist, this raises ``TokenizerError``.
        """
        folder = folder_argument("save_directory", save_directory)
        if filename_prefix is not None and not isinstance(filename_prefix, str):
            raise TokenizerTypeError(
                f"filename_prefix must be a str or None, got {type(filename_prefix).__name__} "
                f"{_abbrev(filename_prefix)}; pass e.g. filename_prefix='albert'."
            )
        if not os.path.isdir(folder):
            raise TokenizerError(
                f"save_directory={_abbrev(folder)} is not an existing folder; create it first (os.makedirs), or "
                "call save_pretrained, which creates it."
            )
        vocab_file = os.path.join(folder, (filename_prefix + "-" if filename_prefix else "") + MODEL_FILE_NAME)
        write_atomically(vocab_file, self._serialized)
        return (vocab_file,)

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, str, str]:
        """Write ``tokenizer_config.json``, ``special_tokens_map.json`` and ``spiece.model`` into ``save_directory``.

        HF's ``AutoTokenizer.from_pretrained`` (slow and fast) and ours read the folder back to the same tokenizer.
        The files are written into a copy of the folder that then replaces it in one step (`update_folder`), so a
        crash leaves the old files or the new ones. Returns the paths written, in HF's order.
        """
        folder = folder_argument("save_directory", save_directory)
        if os.path.isfile(folder):
            raise TokenizerError(
                f"save_directory={_abbrev(folder)} is a file; pass a folder (it is created if it does not exist)."
            )
        names = (CONFIG_FILE_NAME, SPECIAL_TOKENS_MAP_FILE_NAME, MODEL_FILE_NAME)
        with update_folder(folder) as stage:  # the three files replaced together, the folder's others kept
            self.save_vocabulary(stage)
            options = {k: getattr(self, k) for k in OPTION_KEYS}
            write_atomically(stage / names[0], json_bytes(config_json(options, self.special_tokens,
                                                                       self._sp.piece_to_id)))
            write_atomically(stage / names[1], json_bytes(special_tokens_map_json(self.special_tokens)))
        return tuple(os.path.join(folder, name) for name in names)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """The special tokens by role (``bos_token`` ... ``mask_token``), as HF's ``special_tokens_map``."""
        return dict(self.special_tokens)

    # -------------------------------------------------------------------------------------- HF's id helpers
    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` of ids without special tokens (as HF)."""
        first = _id_list("token_ids_0", token_ids_0)
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if token_ids_1 is None:
            return cls + first + sep
        return cls + first + sep + _id_list("token_ids_1", token_ids_1) + sep

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        """1 where ``build_inputs_with_special_tokens`` puts a special token, 0 on the text's ids (as HF slow).

        With ``already_has_special_tokens=True``, ``token_ids_0`` is a built sequence and every id of a special
        token in it (``<unk>`` included, as HF) is 1; a ``token_ids_1`` is then an error.
        """
        if not isinstance(already_has_special_tokens, bool):
            raise TokenizerTypeError(
                f"already_has_special_tokens must be True or False, got {_abbrev(already_has_special_tokens)}."
            )
        first = _id_list("token_ids_0", token_ids_0)
        second = None if token_ids_1 is None else _id_list("token_ids_1", token_ids_1)
        if already_has_special_tokens:
            if second is not None:
                raise TokenizerError(
                    "token_ids_1 must be None with already_has_special_tokens=True: a built sequence holds both "
                    "texts; pass the whole sequence as token_ids_0."
                )
            special = self._special_id_set
            return [1 if i in special else 0 for i in first]
        if second is None:
            return [1] + [0] * len(first) + [1]
        return [1] + [0] * len(first) + [1] + [0] * len(second) + [1]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 over ``[CLS] A [SEP]``, 1 over ``B [SEP]`` (as HF)."""
        first = _id_list("token_ids_0", token_ids_0)
        if token_ids_1 is None:
            return [0] * (len(first) + 2)
        return [0] * (len(first) + 2) + [1] * (len(_id_list("token_ids_1", token_ids_1)) + 1)

    do_lower_case = property(lambda self: self.text_options.do_lower_case)
    remove_space = property(lambda self: self.text_options.remove_space)
    keep_accents = property(lambda self: self.text_options.keep_accents)
    bos_token = property(lambda self: self.special_tokens["bos_token"])
    eos_token = property(lambda self: self.special_tokens["eos_token"])
    unk_token = property(lambda self: self.special_tokens["unk_token"])
    pad_token = property(lambda self: self.special_tokens["pad_token"])
    cls_token = property(lambda self: self.special_tokens["cls_token"])
    sep_token = property(lambda self: self.special_tokens["sep_token"])
    mask_token = property(lambda self: self.special_tokens["mask_token"])

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def all_special_tokens(self) -> list[str]:
        return [self._sp.id_to_piece(i) for i in self.all_special_ids]

    def get_vocab(self) -> dict[str, int]:
        return {self._sp.id_to_piece(i): i for i in range(self.vocab_size)}

    def __repr__(self) -> str:
        return (
            f"AlbertTokenizer({str(self.model_path)!r}, vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, remove_space={self.remove_space}, "
            f"keep_accents={self.keep_accents}, model_max_length={self.model_max_length})"
        )

    # ------------------------------------------------------------------------------------------- core encode
    def preprocess_text(self, text: str) -> str:
        """The reference preprocessing of text without special tokens (what SentencePiece is then given)."""
        return preprocess_fast(check_text("text", text), self.text_options)

    def _fixed_digit_comma(self, piece_id: int) -> tuple[list[int], list[str]]:
        fix = self._digit_comma_fix.get(piece_id)
        if fix is None:
            pieces = split_digit_comma(self._sp.id_to_piece(piece_id), lambda t: self._sp.encode(t, out_type=str))
            fix = ([self._sp.piece_to_id(p) for p in pieces], pieces)
            self._digit_comma_fix[piece_id] = fix
        return fix

    def _apply_digit_comma(self, ids: list[int], spans: Offsets | None) -> tuple[list[int], Offsets | None]:
        new_ids: list[int] = []
        new_spans: Offsets = []
        for position, piece_id in enumerate(ids):
            if piece_id not in self._digit_comma_ids:
                new_ids.append(piece_id)
                if spans is not None:
                    new_spans.append(spans[position])
                continue
            fixed_ids, fixed_pieces = self._fixed_digit_comma(piece_id)
            new_ids.extend(fixed_ids)
            if spans is not None:
                new_spans.extend(_split_span(spans[position], fixed_pieces))
        return new_ids, (new_spans if spans is not None else None)

    def _encode_texts(self, texts: Sequence[str], with_offsets: bool) -> tuple[list[list[int]], list[Offsets] | None]:
        """Token ids (no special tokens added) of each text and, if asked, their spans in the original text."""
        options, lower = self.text_options, self.text_options.do_lower_case
        chunks: list[str] = []
        chunk_maps: list[tuple[list[int], list[int], int]] = []  # per chunk: starts, ends, original end
        plans: list[list[tuple[int, int, int] | int]] | None = None  # per text: chunk indices or special segments
        for number, text in enumerate(texts):
            segments = self._splitter.split(text, lower) if self._splitter.might_contain(text) else None
            if segments is not None and (len(segments) > 1 or segments[0][2] is not None):
                if plans is None:
                    plans = [[i] for i in range(number)]
            else:
                segments = [(0, len(text), None)]
            plan: list[tuple[int, int, int] | int] = []
            for begin, end, special_id in segments:
                if special_id is not None:
                    plan.append((begin, end, special_id))
                    continue
                plan.append(len(chunks))
                piece = text if (begin, end) == (0, len(text)) else text[begin:end]
                if with_offsets:
                    prepared, starts, ends = preprocess_aligned(piece, begin, options)
                    chunks.append(prepared)
                    chunk_maps.append((starts, ends, end))
                else:
                    chunks.append(preprocess_fast(piece, options))
            if plans is not None:
                plans.append(plan)

        spans_per_chunk: list[Offsets] | None = None
        if with_offsets:
            encoded = encode_with_offsets(self._sp, chunks, self.num_threads)
            ids_per_chunk = [ids for ids, _ in encoded]
            spans_per_chunk = [
                _to_original(chunk, spans, *chunk_map)
                for chunk, (_, spans), chunk_map in zip(chunks, encoded, chunk_maps)
            ]
        else:
            ids_per_chunk = self._sp.encode(chunks, out_type=int, num_threads=self.num_threads)
        flagged = self._digit_comma_ids
        for index, ids in enumerate(ids_per_chunk):
            if not flagged.isdisjoint(ids):
                spans = spans_per_chunk[index] if spans_per_chunk is not None else None
                ids_per_chunk[index], new_spans = self._apply_digit_comma(ids, spans)
                if spans_per_chunk is not None:
                    spans_per_chunk[index] = new_spans
        if plans is None:
            return ids_per_chunk, spans_per_chunk
        all_ids: list[list[int]] = []
        all_spans: list[Offsets] = []
        for plan in plans:
            ids_out: list[int] = []
            spans_out: Offsets = []
            for item in plan:
                if isinstance(item, tuple):
                    ids_out.append(item[2])
                    spans_out.append((item[0], item[1]))
                else:
                    ids_out.extend(ids_per_chunk[item])
                    if spans_per_chunk is not None:
                        spans_out.extend(spans_per_chunk[item])
            all_ids.append(ids_out)
            all_spans.append(spans_out)
        return all_ids, (all_spans if with_offsets else None)


def _id_list(name: str, value: object) -> list[int]:
    """A list or tuple of ints (or a 1-D integer array) as a list of Python ints; a bare int is an error."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise TokenizerTypeError(
            f"{name} must be a list of int ids, got {type(value).__name__} {_abbrev(value)}; pass e.g. "
            f"tokenizer.encode(text, add_special_tokens=False)."
        )
    return as_ids(name, value)


def _to_original(chunk: str, spans: Offsets, starts: list[int], ends: list[int], chunk_end: int) -> Offsets:
    """Map piece spans in the preprocessed chunk back to the original text, without a piece's leading space."""
    size = len(chunk)
    out: Offsets = []
    for begin, end in spans:
        if begin >= end:  # SentencePiece's dummy-prefix "▁" stands for no character
            position = starts[begin] if begin < size else chunk_end
            out.append((position, position))
            continue
        content = begin
        while content < end - 1 and chunk[content].isspace():  # a lone "▁" keeps the space it stands for
            content += 1
        out.append((starts[content], ends[end - 1]))
    return out


def _split_span(span: tuple[int, int], pieces: list[str]) -> Offsets:
    """Spans for the pieces a ``9,`` piece was split into: the comma gets the last character."""
    begin, end = span
    if end - begin < 2:  # the original was shorter than "9,": nothing to share out, give every piece the span
        return [span] * len(pieces)
    comma = (end - 1, end)
    widths = [len(p.lstrip("\u2581")) for p in pieces[:-1]]
    if sum(widths) != end - 1 - begin:
        return [(begin, end - 1)] * len(widths) + [comma]
    out: Offsets = []
    for width in widths:
        out.append((begin, begin + width))
        begin += width
    return out + [comma]
