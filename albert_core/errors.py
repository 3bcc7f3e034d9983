"""The project's exceptions: one module, so callers can catch ``AlbertError`` for anything we raise.

Every message names the argument (or file, or tensor), the offending value, the valid range and what to do.
The classes also derive from the builtin that fits (``ValueError``/``TypeError``/``KeyError``...), so code
written against plain Python exceptions keeps working.
"""

from __future__ import annotations

import json
import reprlib
import sys

_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother = 3, 4, 6, 60, 60


def short_repr(value: object) -> str:
    """A value for an error message: bounded however large or deeply nested it is (input from strangers)."""
    try:
        return _SHORT.repr(value)
    except (ValueError, RecursionError):  # an int past sys.get_int_max_str_digits()
        return f"<{type(value).__name__}>"


def parse_json(raw: bytes, object_pairs_hook=None) -> tuple[object, str | None]:
    """(value, None) for UTF-8 JSON bytes, or (None, why it is refused, in words for the file's user)."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=object_pairs_hook), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc}"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:  # JSONDecodeError; an integer of more digits than Python converts
        return None, json_error(exc)


def json_error(exc: ValueError) -> str:
    """Why `json.loads` refused a text, in words for the file's user (Python's own advice on the digit limit is
    for programmers)."""
    if "integer string conversion" in str(exc):
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return str(exc)


class AlbertError(Exception):
    """Base class of every exception raised by albert-core and its plugins."""


class ConfigError(AlbertError, ValueError):
    """A configuration value is invalid (bad type, out of range, unknown name)."""


class InputError(AlbertError, ValueError):
    """A model input (ids, masks, labels...) is invalid; raised on the host before any backend runs."""


class InputTypeError(AlbertError, TypeError):
    """A model input has the wrong type (float ids, a list where an array is needed...)."""


class CheckpointError(AlbertError, ValueError):
    """A weights file or folder is missing, corrupt, or disagrees with the config."""


class BackendError(AlbertError, LookupError):
    """A backend is unknown, failed to load, or its framework is not installed."""


class FormatError(CheckpointError, BackendError):
    """A checkpoint format is unknown, or its plugin or framework cannot be loaded. (Also a ``BackendError``, which
    is what the first release raised for it.)"""


class PluginError(AlbertError, RuntimeError):
    """A plugin is broken (duplicate names, bad factory, hook that raised)."""


class TokenizerError(AlbertError, ValueError):
    """The tokenizer model file or a tokenizer argument is invalid."""


class TokenizerTypeError(AlbertError, TypeError):
    """Text given to the tokenizer is not a string (or a list of strings)."""


class DataError(AlbertError, ValueError):
    """A training or evaluation data file (or record) is invalid; the message names the file and line."""


class TrainingError(AlbertError, RuntimeError):
    """Training cannot go on (a non-finite loss, a checkpoint that does not fit the run); says what to try."""
