"""Loading a SentencePiece model safely, and batched encoding with character offsets across sentencepiece versions."""

from __future__ import annotations

import os
from pathlib import Path

import sentencepiece as spm

from ..errors import TokenizerError, TokenizerTypeError

MODEL_FILE_NAME = "spiece.model"
MAX_MODEL_BYTES = 64 * 2**20  # the largest public SentencePiece vocabularies are a few MiB


def _abbrev(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_model_path(vocab_file: object) -> Path:
    """The ``spiece.model`` named by ``vocab_file``: the file itself, or the one inside a model folder."""
    if not isinstance(vocab_file, (str, os.PathLike)):
        raise TokenizerTypeError(
            f"vocab_file must be a path (str or os.PathLike) to a SentencePiece model or a folder holding "
            f"{MODEL_FILE_NAME}, got {type(vocab_file).__name__} {_abbrev(vocab_file)}."
        )
    path = Path(vocab_file)
    if path.is_dir():
        path = path / MODEL_FILE_NAME
        if not path.is_file():
            raise TokenizerError(
                f"vocab_file={_abbrev(str(vocab_file))} is a folder without {MODEL_FILE_NAME}; pass the model "
                f"file itself or a folder written by save_pretrained (it holds {MODEL_FILE_NAME})."
            )
    elif not path.is_file():
        raise TokenizerError(
            f"vocab_file={_abbrev(str(vocab_file))} does not exist; pass the path of a SentencePiece model "
            f"({MODEL_FILE_NAME}) or of a folder that contains one."
        )
    return path


def load_processor(path: Path) -> tuple[spm.SentencePieceProcessor, bytes, list[str]]:
    """The processor, the file's bytes and every piece (id order), or a `TokenizerError` naming the file (in full:
    it exists, so its path is bounded)."""
    size = path.stat().st_size
    if size == 0 or size > MAX_MODEL_BYTES:
        raise TokenizerError(
            f"vocab_file={str(path)!r} has {size} bytes; a SentencePiece model has 1 to "
            f"{MAX_MODEL_BYTES} bytes. Check that the path names the tokenizer's spiece.model, not weights."
        )
    serialized = path.read_bytes()
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(serialized)
    except (RuntimeError, OSError, ValueError) as error:
        raise TokenizerError(
            f"vocab_file={str(path)!r} is not a valid SentencePiece model ({error}); re-download the "
            f"checkpoint's {MODEL_FILE_NAME}."
        ) from error
    if processor.get_piece_size() == 0:
        raise TokenizerError(f"vocab_file={str(path)!r} holds an empty vocabulary; use a trained model.")
    pieces = []
    for i in range(processor.get_piece_size()):
        try:  # SentencePiece loads a piece that is not UTF-8, then fails on it in id_to_piece, decode...
            pieces.append(processor.id_to_piece(i))
        except UnicodeDecodeError as error:
            raise TokenizerError(f"vocab_file={str(path)!r} is not a valid SentencePiece model: piece {i} "
                                 f"is not UTF-8 ({error}); re-download the checkpoint's {MODEL_FILE_NAME}.") from None
    return processor, serialized, pieces


def _char_offsets_from_bytes(text: str, byte_spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if text.isascii():
        return byte_spans
    char_at_byte = [0] * (len(text.encode("utf-8")) + 1)
    byte = 0
    for index, char in enumerate(text):
        width = len(char.encode("utf-8"))
        for k in range(width):
            char_at_byte[byte + k] = index
        byte += width
    char_at_byte[byte] = len(text)
    return [(char_at_byte[b], char_at_byte[e]) for b, e in byte_spans]


def encode_with_offsets(
    processor: spm.SentencePieceProcessor, texts: list[str], num_threads: int
) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Ids and character spans (into each input text) of every piece, one batched call."""
    try:
        results = processor.encode(texts, out_type="offset_mapping", num_threads=num_threads)
        return [(r["ids"], [tuple(o) for o in r["offsets"]]) for r in results]
    except ValueError:  # sentencepiece < 0.2.1 has no "offset_mapping"; its protos carry byte offsets
        pass
    try:
        protos = processor.encode(texts, out_type="immutable_proto", num_threads=num_threads)
    except ValueError:
        protos = processor.encode(texts, out_type="proto", num_threads=num_threads)
    out = []
    for text, proto in zip(texts, protos):
        ids = [p.id for p in proto.pieces]
        out.append((ids, _char_offsets_from_bytes(text, [(p.begin, p.end) for p in proto.pieces])))
    return out
