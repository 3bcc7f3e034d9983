"""The pretraining data folder: `data.json` (what made it), `stats.json`, `tokenizer/`, and `shard-NNNNN.npz`
files of ragged instances (uncompressed NumPy archives, read with `allow_pickle=False`: plain integer arrays only).

A shard holds, for n instances: `input_ids` (int32, every instance's tokens after masking, [CLS] A [SEP] B [SEP],
one after another) with `offsets` (int64 [n + 1]); `segment_b` (int32 [n]: where segment B starts);
`sentence_order_label` (int8 [n], 1: swapped); `masked_positions` and `masked_ids` (int32: the positions predicted
and their original tokens) with `masked_offsets` (int64 [n + 1])."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import write_atomically
from ..errors import DataError

MANIFEST_NAME, STATS_NAME, TOKENIZER_DIR = "data.json", "stats.json", "tokenizer"
DATA_FORMAT, DATA_VERSION = "albert-core-pretraining-data", 1
SHARD_FIELDS = {"input_ids": np.int32, "offsets": np.int64, "segment_b": np.int32, "sentence_order_label": np.int8,
                "masked_positions": np.int32, "masked_ids": np.int32, "masked_offsets": np.int64}


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npz"


def write_json(path: Path, value: Any) -> None:
    write_atomically(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


class ShardWriter:
    """Collects instances (packed arrays, as the builder's workers return them) and writes a shard every `size`."""

    def __init__(self, folder: Path, size: int) -> None:
        self.folder, self.size = folder, size
        self.pending: list[dict[str, np.ndarray]] = []
        self.pending_count = 0
        self.written: list[dict[str, Any]] = []

    def add(self, packed: dict[str, np.ndarray]) -> None:
        """`packed`: one or more instances in the shard layout."""
        self.pending.append(packed)
        self.pending_count += len(packed["segment_b"])
        while self.pending_count >= self.size:
            self._write(self.size)

    def close(self) -> list[dict[str, Any]]:
        if self.pending_count:
            self._write(self.pending_count)
        return self.written

    def _write(self, count: int) -> None:
        merged = concatenate(self.pending)
        head, rest = split(merged, count)
        buffer = io.BytesIO()
        np.savez(buffer, **head)
        name = shard_name(len(self.written))
        write_atomically(self.folder / name, buffer.getvalue())
        self.written.append({"file": name, "instances": count})
        self.pending = [rest] if len(rest["segment_b"]) else []
        self.pending_count = len(rest["segment_b"])


def concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Packed instance groups, one after another."""
    out = {}
    for key in ("input_ids", "segment_b", "sentence_order_label", "masked_positions", "masked_ids"):
        out[key] = np.concatenate([p[key] for p in parts]).astype(SHARD_FIELDS[key])
    for key in ("offsets", "masked_offsets"):
        lengths = np.concatenate([np.diff(p[key]) for p in parts])
        out[key] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return out


def split(packed: dict[str, np.ndarray], count: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The first `count` instances and the rest."""
    head, rest = {}, {}
    for key in ("segment_b", "sentence_order_label"):
        head[key], rest[key] = packed[key][:count], packed[key][count:]
    for key, flat in (("offsets", "input_ids"), ("masked_offsets", "masked_positions")):
        cut = packed[key][count]
        head[key], rest[key] = packed[key][:count + 1], packed[key][count:] - cut
        head[flat], rest[flat] = packed[flat][:cut], packed[flat][cut:]
    cut = packed["masked_offsets"][count]
    head["masked_ids"], rest["masked_ids"] = packed["masked_ids"][:cut], packed["masked_ids"][cut:]
    return head, rest


# What a damaged or hostile archive makes the zip and npy readers raise.
_UNREADABLE = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, struct.error, zipfile.BadZipFile,
               zlib.error)


def _read_members(path: Path) -> dict[str, np.ndarray]:
    """The archive's arrays of the shard's fields, read only after their sizes are checked against the file's:
    `np.load` would allocate what an npy header declares (4 TiB for a 100-byte file), and inflate a compressed
    member of any size (a zip bomb). The zip reader never yields more than a member's declared size."""
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > 2 * size + (1 << 20):
            raise DataError(f"{path}: its members inflate to {declared:,} bytes from a {size:,}-byte file; not a "
                            "shard 'albert pretrain-data' wrote (they are not compressed)")
        arrays = {}
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if key not in SHARD_FIELDS or key in arrays:
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise DataError(f"{path}: {info.filename} is npy format {version}, not 1.0 or 2.0")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(member)
                if dtype.hasobject or math.prod(shape) * dtype.itemsize > info.file_size:
                    raise DataError(f"{path}: {info.filename} declares a {dtype} array of shape {shape}, which "
                                    f"its {info.file_size:,} bytes cannot hold; the shard is damaged")
            with archive.open(info) as member:
                arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def read_shard(path: Path) -> dict[str, np.ndarray]:
    """One shard, checked: the fields and dtypes above, offsets that cover the arrays, positions inside their
    instance. Anything else is a `DataError` naming the file."""
    try:
        arrays = _read_members(path)
    except _UNREADABLE as e:
        raise DataError(f"{path}: not a readable pretraining shard ({e}); write the data again with "
                        "'albert pretrain-data'") from None
    missing = sorted(set(SHARD_FIELDS) - set(arrays))
    if missing:
        raise DataError(f"{path}: a pretraining shard needs {', '.join(missing)}; write the data again")
    for key, dtype in SHARD_FIELDS.items():
        if arrays[key].dtype != dtype or arrays[key].ndim != 1:
            raise DataError(f"{path}: {key} is {arrays[key].dtype} {arrays[key].shape}, expected a 1-D "
                            f"{np.dtype(dtype)} array; write the data again")
    n = len(arrays["segment_b"])
    for key, flat in (("offsets", "input_ids"), ("masked_offsets", "masked_ids")):
        offsets = arrays[key]
        if len(offsets) != n + 1 or offsets[0] != 0 or offsets[-1] != len(arrays[flat]) or np.any(np.diff(offsets) < 0):
            raise DataError(f"{path}: {key} does not describe {n} instances of {flat}; the shard is damaged")
    if len(arrays["masked_positions"]) != len(arrays["masked_ids"]) or len(arrays["sentence_order_label"]) != n:
        raise DataError(f"{path}: the per-instance arrays disagree in length; the shard is damaged")
    lengths = np.diff(arrays["offsets"])
    owner = np.repeat(np.arange(n), np.diff(arrays["masked_offsets"]))
    if np.any(arrays["masked_positions"] < 0) or np.any(arrays["masked_positions"] >= lengths[owner]) or \
            np.any(arrays["segment_b"] < 2) or np.any(arrays["segment_b"] >= lengths):
        raise DataError(f"{path}: a masked position or segment start lies outside its instance; the shard is damaged")
    if not np.isin(arrays["sentence_order_label"], (0, 1)).all() or np.any(arrays["input_ids"] < 0) \
            or np.any(arrays["masked_ids"] < 0):
        raise DataError(f"{path}: a sentence-order label other than 0/1 or a negative token id; the shard is damaged")
    return arrays


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"--data {str(folder)!r} has no {MANIFEST_NAME}; pass a folder written by "
                        "'albert pretrain-data'")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: bad JSON, 5000-digit integers
        raise DataError(f"{path}: not valid JSON ({str(e)[:200]}); write the data again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != DATA_FORMAT:
        raise DataError(f"{path}: not a pretraining data manifest (format {DATA_FORMAT!r} expected)")
    if manifest.get("version") != DATA_VERSION:
        raise DataError(f"{path}: data format version {manifest.get('version')!r}; this albert-core reads version "
                        f"{DATA_VERSION}: write the data again")
    # What the run and the batches read from it, checked once here so that they can index it freely.
    options, tokenizer, shards = manifest.get("options"), manifest.get("tokenizer"), manifest.get("shards")
    length = options.get("max_seq_length") if isinstance(options, dict) else None
    if not (isinstance(length, int) and not isinstance(length, bool) and length > 0) \
            or not (isinstance(tokenizer, dict) and isinstance(tokenizer.get("sha256"), str)) \
            or not isinstance(shards, list) or not isinstance(manifest.get("instances"), int) \
            or not all(isinstance(e, dict) and isinstance(e.get("instances"), int)
                       and not isinstance(e.get("instances"), bool) and e["instances"] >= 0 for e in shards):
        raise DataError(f"{path}: options.max_seq_length, tokenizer.sha256, instances or the shard list (each "
                        "{'file', 'instances'}) is missing or of the wrong type; the folder is damaged: write the "
                        "data again")
    return manifest


def shard_path(folder: str | os.PathLike, entry: Any) -> Path:
    """The file of a manifest's shard entry, checked: a plain `.npz` name in the folder, present."""
    name = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".npz"):
        raise DataError(f"{Path(folder) / MANIFEST_NAME}: shard entry {entry!r} is not a file name in the folder")
    path = Path(folder) / name
    if not path.is_file():
        raise DataError(f"{Path(folder) / MANIFEST_NAME}: shard {name!r} is missing from the folder; write the data "
                        "again with 'albert pretrain-data'")
    return path


def load_shard(folder: str | os.PathLike, entry: Any) -> dict[str, np.ndarray]:
    """A manifest entry's shard (`read_shard`), with as many instances as the manifest says."""
    path = shard_path(folder, entry)
    shard = read_shard(path)
    if len(shard["segment_b"]) != entry.get("instances"):
        raise DataError(f"{path}: {len(shard['segment_b'])} instances, the manifest says "
                        f"{entry.get('instances')!r}; the folder is damaged: write the data again")
    return shard


def iter_shards(folder: str | os.PathLike, manifest: dict[str, Any]) -> Iterator[dict[str, np.ndarray]]:
    """The shards in the manifest's order, one in memory at a time."""
    for entry in manifest["shards"]:
        yield load_shard(folder, entry)
