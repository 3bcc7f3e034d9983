"""Checks and conversions of the tokenizer API's arguments: texts and batches of them, lists of words, ids,
padding and truncation modes, and NumPy arrays to a framework's tensors (`return_tensors`)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from ..errors import TokenizerError, TokenizerTypeError
from .packing import TRUNCATION_STRATEGIES
from .spiece import _abbrev

# The longest text one call takes: SentencePiece holds about 20 bytes a character while it encodes (measured on the
# 30k vocabulary: 320 MB for 16M characters), so 10M characters is at most ~200 MB. No model reads more than a few
# thousand tokens of one text; a book is split into documents or pages first.
MAX_TEXT_CHARS = 10_000_000

PADDING_MODES = {"longest": "longest", "max_length": "max_length", "do_not_pad": None}


def check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise TokenizerError(f"{name} must be a positive int, got {_abbrev(value)}; pass e.g. {name}=128.")


def check_text(name: str, value: object) -> str:
    """``value`` if it is a str SentencePiece can take: every code point UTF-8-encodable (no lone surrogates), at
    most `MAX_TEXT_CHARS` characters."""
    if not isinstance(value, str):
        raise TokenizerTypeError(
            f"{name} must be a str, got {type(value).__name__} {_abbrev(value)}; convert it to a string "
            "(or drop the entry) before tokenizing."
        )
    if len(value) > MAX_TEXT_CHARS:
        raise TokenizerError(
            f"{name} has {len(value):,} characters, more than the {MAX_TEXT_CHARS:,} one text may have (encoding "
            f"it would hold about {20 * len(value) >> 20:,} MiB); split it into documents or pages first, and use "
            "return_overflowing_tokens=True with a stride for windows over each."
        )
    if not value.isascii():  # ASCII is always valid; otherwise one C-speed encode finds the first bad code point
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            bad, count = value[error.start], error.end - error.start
            raise TokenizerError(
                f"{name} has a character that cannot be encoded as UTF-8 at index {error.start}: {bad!r} "
                f"(U+{ord(bad):04X}, a surrogate code point{f'; {count} in a row' if count > 1 else ''}), near "
                f"{_abbrev(value[max(0, error.start - 20) : error.start + 20], 60)}. SentencePiece needs valid "
                "Unicode: decode the source bytes with the right codec, join UTF-16 surrogate pairs with "
                ".encode('utf-16', 'surrogatepass').decode('utf-16'), or replace them with "
                ".encode('utf-8', 'replace').decode('utf-8')."
            ) from None
    return value


def as_batch(name: str, value: object) -> tuple[bool, list[str]]:
    """(is_single, texts) for a string or a list/tuple of strings."""
    if isinstance(value, str):
        return True, [check_text(name, value)]
    if not isinstance(value, (list, tuple)):
        raise TokenizerTypeError(f"{name} must be a str or a list of str, got {type(value).__name__} {_abbrev(value)}.")
    for index, item in enumerate(value):
        check_text(f"{name}[{index}]", item)
    return False, list(value)


def as_word_batch(name: str, value: object) -> tuple[bool, list[list[str]]]:
    """(is_single, words of each example) for ``is_split_into_words=True``: a list of words or a list of them."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return True, [as_batch(name, list(value))[1]]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
        return False, [as_batch(f"{name}[{index}]", list(words))[1] for index, words in enumerate(value)]
    raise TokenizerTypeError(
        f"with is_split_into_words=True, {name} must be a list of words (str) or a list of such lists, got "
        f"{_abbrev(value)}; pass is_split_into_words=False for plain text."
    )


# return_tensors -> (module to import, what it is, how to install it, array -> tensor)
TENSOR_TYPES = {
    "pt": ("torch", "PyTorch", "pip install torch", lambda module, array: module.from_numpy(array)),
    "tf": ("tensorflow", "TensorFlow", "pip install tensorflow", lambda module, array: module.constant(array)),
    "jax": ("jax.numpy", "JAX", "pip install jax", lambda module, array: module.asarray(array)),
}


def to_tensors(arrays: dict[str, np.ndarray], kind: str) -> dict[str, Any]:
    """NumPy arrays as the framework's tensors, importing the framework only now."""
    module_name, what, install, convert = TENSOR_TYPES[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise TokenizerError(f"return_tensors={kind!r} needs {what}, which is not installed; run: {install} "
                             "(or pass return_tensors='np')") from None
    return {name: convert(module, array) for name, array in arrays.items()}


def padding_mode(padding: object) -> str | None:
    if isinstance(padding, bool):
        return "longest" if padding else None
    if isinstance(padding, str) and padding in PADDING_MODES:
        return PADDING_MODES[padding]
    raise TokenizerError(
        f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {_abbrev(padding)}."
    )


def truncation_strategy(truncation: object) -> str | None:
    if truncation is None or truncation is False or truncation == "do_not_truncate":
        return None
    if truncation is True:
        return "longest_first"
    if isinstance(truncation, str) and truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise TokenizerError(
        f"truncation must be True, False, None or one of {TRUNCATION_STRATEGIES}, got {_abbrev(truncation)}."
    )


def as_ids(name: str, value: object) -> list[int]:
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
