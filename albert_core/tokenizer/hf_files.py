"""Tokenizer folders as HF writes and reads them: `tokenizer_config.json`, `special_tokens_map.json` and
`spiece.model`, so that HF's `AutoTokenizer.from_pretrained` (slow and fast) and ours read each other's folders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import TokenizerError, TokenizerTypeError
from .spiece import _abbrev

CONFIG_FILE_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE_NAME = "special_tokens_map.json"
OPTION_KEYS = ("do_lower_case", "remove_space", "keep_accents", "model_max_length")
TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")  # HF's order


def read_folder_options(folder: Path, overrides: dict[str, Any]) -> tuple[dict[str, Any], object]:
    """The constructor options a folder's HF files give (`overrides` win), and its `added_tokens_decoder`.

    Read as HF reads them: `tokenizer_config.json` (the options, the special tokens as strings or AddedToken dicts),
    then `special_tokens_map.json` for the special tokens when the config has no `added_tokens_decoder` (HF's
    legacy rule). Other keys are ignored."""
    config_path, map_path = folder / CONFIG_FILE_NAME, folder / SPECIAL_TOKENS_MAP_FILE_NAME
    config = read_json_object(config_path) or {}
    options = {key: option_from_file(config_path, key, config[key]) for key in OPTION_KEYS
               if key in config and key not in overrides}
    sources = [(config_path, config)]
    if "added_tokens_decoder" not in config:
        sources.append((map_path, read_json_object(map_path) or {}))
    for source, values in sources:
        options.update({key: token_from_file(source, key, values[key]) for key in TOKEN_KEYS
                        if key in values and key not in overrides})
    return {**options, **overrides}, config.get("added_tokens_decoder")


def added_token(token: str, mask_token: str) -> dict[str, Any]:
    """HF's AddedToken fields of a special token: only the mask token strips the spaces on its left."""
    lstrip = token == mask_token
    return {"content": token, "lstrip": lstrip, "normalized": False, "rstrip": False, "single_word": False}


def folder_argument(name: str, value: object) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TokenizerTypeError(
            f"{name} must be a folder path (str or os.PathLike), got {type(value).__name__} {_abbrev(value)}."
        )
    folder = os.fspath(value)
    if not isinstance(folder, str):
        raise TokenizerTypeError(f"{name} must be a str path, got bytes {_abbrev(folder)}; pass os.fsdecode(path).")
    return folder


def json_bytes(value: dict[str, Any]) -> bytes:
    """JSON as HF writes it (sorted keys, indent 2, UTF-8, trailing newline)."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is no such file."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TokenizerError(f"{path} is not valid JSON ({error}); fix or delete it.") from error
    if not isinstance(value, dict):
        raise TokenizerError(
            f"{path} must hold a JSON object {{key: value}}, got {type(value).__name__} {_abbrev(value)}; fix or "
            "delete it."
        )
    return value


def option_from_file(path: Path, key: str, value: object) -> object:
    if key == "model_max_length":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        expected = "a positive int"
    elif isinstance(value, bool):
        return value
    else:
        expected = "true or false"
    raise TokenizerError(
        f"{path}: {key} must be {expected}, got {_abbrev(value)}; fix the file or pass {key}= to from_pretrained."
    )


def token_from_file(path: Path, key: str, value: object) -> str:
    """A special token written as a string or as an AddedToken object ``{"content": ...}``."""
    content = value.get("content") if isinstance(value, dict) else value
    if isinstance(content, str) and content:
        return content
    raise TokenizerError(
        f"{path}: {key} must be a token string or an AddedToken object {{\"content\": \"...\"}}, got "
        f"{_abbrev(value)}; fix the file or pass {key}= to from_pretrained."
    )


def check_added_tokens(config_path: Path, added: object, piece: Callable[[int], str], vocab_size: int,
                       model_path: Path) -> None:
    """HF's ``added_tokens_decoder`` may only list the model's own pieces (we cannot add tokens)."""
    if added is None:
        return
    if not isinstance(added, dict):
        raise TokenizerError(
            f"{config_path}: added_tokens_decoder must be an object {{id: token}}, got {_abbrev(added)}; fix "
            "or delete the key."
        )
    for key, entry in added.items():
        content = entry.get("content") if isinstance(entry, dict) else entry
        token_id = int(key) if isinstance(key, str) and key.strip().isdigit() else -1
        if 0 <= token_id < vocab_size and content == piece(token_id):
            continue
        raise TokenizerError(
            f"{config_path}: added_tokens_decoder[{key!r}] = {_abbrev(content)} is not the piece with that id in "
            f"{model_path} (vocabulary size {vocab_size}); this tokenizer encodes with the "
            "SentencePiece model's own pieces only, so tokens added to an HF tokenizer (add_tokens) would "
            "be encoded differently. Load that folder with HF's tokenizer, or remove the added tokens."
        )


def config_json(options: dict[str, Any], special_tokens: dict[str, str], piece_id: Callable[[str], int]) -> dict:
    """The part of HF's ``tokenizer_config.json`` for ALBERT that describes a tokenizer with these options and
    special tokens (by role)."""
    mask = special_tokens["mask_token"]
    ids = sorted({piece_id(token): token for token in special_tokens.values()}.items())
    return {
        "added_tokens_decoder": {str(i): {**added_token(token, mask), "special": True} for i, token in ids},
        "clean_up_tokenization_spaces": False,  # decode() never cleans up; HF's default for ALBERT as well
        "tokenizer_class": "AlbertTokenizer",
        **options,
        **special_tokens,
    }


def special_tokens_map_json(special_tokens: dict[str, str]) -> dict[str, Any]:
    """HF's ``special_tokens_map.json``: the special tokens by role, the mask token as an AddedToken."""
    mask = special_tokens["mask_token"]
    return {k: (added_token(t, mask) if t == mask else t) for k, t in special_tokens.items()}
