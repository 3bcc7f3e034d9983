"""Safetensors reading and writing with the checks the format's reader leaves to the caller.

We parse the header ourselves (8-byte little-endian length, then JSON) so that every defect gets a message
naming the file and tensor: truncated files, overlapping or out-of-range offsets, duplicate names,
unsupported dtypes, NaN/Inf. Tensors are read lazily, one at a time, straight from the file into a fresh
array (`np.fromfile`, or `read_into` a caller's buffer), so the weights are copied exactly once on their way
to a backend; or they are not copied at all: `mapped` gives a copy-on-write memory map of a tensor. Pickle,
`.h5` and `.msgpack` files are never opened. Files are written to a temporary name and renamed into place,
so a model still mapping the old file keeps reading the old bytes.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from ..atomic_files import replace_atomically
from ..errors import CheckpointError, parse_json, short_repr

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
UNSAFE_NAMES = ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.ckpt.index")
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit (MAX_HEADER_SIZE)
_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def _is_int(value: object) -> bool:
    return type(value) is int  # JSON integers; not bool, not float


def _parse_json(raw: bytes, path: Path, what: str) -> tuple[object, list[tuple[str, dict]]]:
    """JSON from `raw` (UTF-8), every decoding problem a CheckpointError naming `path`; also returns each duplicated
    key with the object it is in (json.loads would keep the last value silently)."""
    duplicates: list[tuple[str, dict]] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        obj: dict[str, object] = {}
        for key, value in pairs:
            if key in obj:
                duplicates.append((key, obj))
            obj[key] = value
        return obj

    value, reason = parse_json(raw, pairs_hook)
    if reason is None:
        return value, duplicates
    raise CheckpointError(f"{path}: corrupt {what} ({reason}); the file is damaged or not what its name says, "
                          "re-download or re-convert it")


def _byte_count(shape: tuple[int, ...], itemsize: int) -> int | None:
    """Bytes of a tensor of `shape`, in Python ints (no int64 overflow); None when NumPy could not make an array of
    that shape even empty (its non-zero dimensions make over 2**63 bytes at 8 bytes an element). It stops multiplying
    there, so a header with thousands of huge dimensions costs no more than reading it."""
    elements = 1
    for dim in shape:
        if dim:
            elements *= dim
            if elements * 8 >= 2**63:
                return None
    return 0 if 0 in shape else elements * itemsize


class SafetensorsFile(Mapping[str, np.ndarray]):
    """Lazy read-only mapping `name -> float array` over one `.safetensors` file (bf16 widened to f32)."""

    def __init__(self, path: str | os.PathLike, *, check_finite: bool = True) -> None:
        self.path = Path(path)
        self.check_finite = check_finite
        try:
            info = os.stat(self.path)  # follows symlinks (the Hub cache links each file to a blob outside the folder)
            if not stat.S_ISREG(info.st_mode):  # a folder, a device, a FIFO (opening one would block forever)
                raise CheckpointError(f"weights file {str(self.path)!r} is not a regular file; point at a "
                                      ".safetensors file")
            size = info.st_size
            with open(self.path, "rb") as fh:
                prefix = fh.read(8)
                if len(prefix) < 8:
                    raise CheckpointError(f"{self.path}: file is truncated ({size} bytes); re-download it")
                header_len = int.from_bytes(prefix, "little")
                if MAX_HEADER_BYTES < header_len <= size - 8:
                    raise CheckpointError(
                        f"{self.path}: header length {header_len:,} bytes is over the {MAX_HEADER_BYTES:,} that "
                        "safetensors allows; the file was not written by a safetensors library"
                    )
                if header_len > size - 8:
                    raise CheckpointError(
                        f"{self.path}: header length {header_len} exceeds the file ({size} bytes); the file "
                        "is truncated or not safetensors"
                    )
                raw = fh.read(header_len)
        except CheckpointError:
            raise
        except FileNotFoundError:
            raise CheckpointError(f"weights file {str(self.path)!r} does not exist") from None
        except (OSError, ValueError) as exc:  # permissions, a symlink loop, a name too long or with a NUL byte
            raise CheckpointError(f"weights file {str(self.path)!r} cannot be read ({exc}); check the path") from None
        header, duplicates = _parse_json(raw, self.path, "safetensors header")
        if not isinstance(header, dict):
            raise CheckpointError(f"{self.path}: corrupt safetensors header (not a JSON object but "
                                  f"{short_repr(header)}); the file is not safetensors")
        if duplicates:
            key, where = duplicates[0]
            entry = next((n for n, v in header.items() if v is where), None)
            raise CheckpointError(
                f"{self.path}: duplicate tensor name {key!r} in the safetensors header; the file is corrupt"
                if where is header else
                f"{self.path}: key {key!r} appears twice in the safetensors header"
                f"{'' if entry is None else f' entry of tensor {entry!r}'}; the file is corrupt")
        metadata = header.pop("__metadata__", None)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise CheckpointError(f"{self.path}: __metadata__ is {short_repr(metadata)}; the format allows only an "
                                  "object of strings, so the file is corrupt")
        self.metadata: dict[str, str] = metadata
        self._map: mmap.mmap | None = None  # opened by the first `mapped` call
        self._data_start = 8 + header_len
        data_len = size - self._data_start
        self._entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
        spans = []
        for name, info in header.items():
            if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
                raise CheckpointError(f"{self.path}: tensor {name!r} has a malformed header entry {short_repr(info)} "
                                      "(it needs dtype, shape and data_offsets); the file is corrupt")
            dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
            if not isinstance(dtype, str) or dtype not in _DTYPES:
                raise CheckpointError(
                    f"{self.path}: tensor {name!r} has dtype {dtype if isinstance(dtype, str) else short_repr(dtype)}; "
                    f"supported: {sorted(_DTYPES)} (convert the checkpoint to a float dtype)"
                )
            if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
                raise CheckpointError(f"{self.path}: tensor {name!r} has shape {short_repr(shape)}; a shape is a "
                                      "list of integers >= 0, so the file is corrupt")
            if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
                raise CheckpointError(f"{self.path}: tensor {name!r} has data_offsets {short_repr(offsets)}; they are "
                                      "two integers [begin, end], so the file is corrupt")
            shape, (begin, end) = tuple(shape), offsets
            nbytes = _byte_count(shape, _DTYPES[dtype].itemsize)
            if nbytes is None:
                raise CheckpointError(f"{self.path}: tensor {name!r} has shape {short_repr(shape)}, too large for any "
                                      "array; the file is corrupt")
            if not (0 <= begin <= end <= data_len) or end - begin != nbytes:
                raise CheckpointError(
                    f"{self.path}: tensor {name!r} (shape {short_repr(shape)}, {dtype}) has offsets "
                    f"[{short_repr(begin)}, {short_repr(end)}) that do not fit its size {nbytes} or the {data_len} "
                    "data bytes; the file is truncated or corrupt"
                )
            self._entries[name] = (dtype, shape, begin, end)
            spans.append((begin, end, name))
        spans.sort()
        for (_, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise CheckpointError(f"{self.path}: tensors {n0!r} and {n1!r} overlap in the file; it is corrupt")

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name][1]

    def __getitem__(self, name: str) -> np.ndarray:
        dtype, shape, begin, end = self._entries[name]
        count = (end - begin) // _DTYPES[dtype].itemsize
        array = np.fromfile(self.path, dtype=_DTYPES[dtype], count=count, offset=self._data_start + begin)
        if array.size != count:
            raise CheckpointError(f"{self.path}: tensor {name!r} is truncated")
        if dtype == "BF16":  # numpy has no bfloat16: widen exactly to float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        array = array.reshape(shape)
        self._require_finite(name, array)
        return array

    def _require_finite(self, name: str, array: np.ndarray) -> None:
        # A sum is NaN/Inf whenever an element is (or when it overflows): only then count exactly. Twice as fast
        # as np.isfinite(array).all(), and it allocates nothing.
        if not self.check_finite:
            return
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing float16 sum is no reason to warn
            total = array.sum()
        if not np.isfinite(total) and not np.isfinite(array).all():
            raise CheckpointError(f"{self.path}: tensor {name!r} contains {int(array.size - np.isfinite(array).sum())}"
                                  " NaN/Inf values")

    def mapped(self, name: str) -> np.ndarray | None:
        """Tensor `name` as a copy-on-write memory map of the file (no copy: pages load on first touch and are
        shared with the page cache; writes stay private to this process). None for a dtype NumPy lacks (bf16).
        The file must not be truncated or rewritten in place while the array lives (`save_safetensors` renames a
        new file into place instead, which is safe)."""
        dtype, shape, begin, end = self._entries[name]
        if dtype == "BF16":
            return None
        if self._map is None:
            with open(self.path, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
        array = np.frombuffer(self._map, _DTYPES[dtype], (end - begin) // _DTYPES[dtype].itemsize,
                              self._data_start + begin).reshape(shape)
        self._require_finite(name, array)
        return array

    def read_into(self, name: str, out: np.ndarray, start_row: int = 0) -> bool:
        """Read tensor `name` straight into `out` (e.g. a framework parameter's host storage): no intermediate
        array. With `start_row`, `out` receives the `len(out)` rows (leading-axis entries) from there on, so a
        caller can stream a large tensor through a small buffer. Returns False, reading nothing, when `out` does
        not have the tensor's stored dtype, or its shape past the leading axis, or the rows do not fit."""
        dtype, shape, begin, end = self._entries[name]
        rows = out.shape[0] if out.ndim else 1
        if dtype == "BF16" or out.dtype != _DTYPES[dtype] or out.shape[1:] != shape[1:] or len(shape) != out.ndim \
                or not 0 <= start_row <= start_row + rows <= (shape[0] if shape else 1) \
                or not out.flags.c_contiguous or not out.flags.writeable:
            return False
        if out.nbytes == 0:  # nothing to read (and a memoryview of a zero-size array cannot be cast)
            return True
        row_bytes = out.nbytes // rows
        with open(self.path, "rb") as fh:
            fh.seek(self._data_start + begin + start_row * row_bytes)
            if fh.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise CheckpointError(f"{self.path}: tensor {name!r} is truncated")
        self._require_finite(name, out)
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class CheckpointFolder(Mapping[str, np.ndarray]):
    """Lazy mapping over the weights of an HF model folder: one file or a sharded index."""

    def __init__(self, folder: str | os.PathLike, *, check_finite: bool = True) -> None:
        self.folder = Path(folder)
        index = self.folder / INDEX_NAME
        single = self.folder / WEIGHTS_NAME
        self._files: dict[str, SafetensorsFile] = {}
        self._where: dict[str, str] = {}
        if single.is_file():
            self._open(WEIGHTS_NAME, check_finite)
            self._where = {k: WEIGHTS_NAME for k in self._files[WEIGHTS_NAME]}
        elif index.is_file():
            self._read_index(index, check_finite)
        else:
            unsafe = [n for n in UNSAFE_NAMES if (self.folder / n).exists()]
            hint = (f" It has {unsafe}, which this library never loads (pickle/HDF5 can run code or are "
                    "unsafe to parse); convert to safetensors first.") if unsafe else ""
            raise CheckpointError(f"no {WEIGHTS_NAME} or {INDEX_NAME} in {str(self.folder)!r}.{hint}")

    def _open(self, shard: str, check_finite: bool) -> None:
        if shard not in self._files:
            self._files[shard] = SafetensorsFile(self.folder / shard, check_finite=check_finite)

    def _read_index(self, index: Path, check_finite: bool) -> None:
        try:
            raw = index.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"{index}: cannot be read ({exc}); check its permissions") from None
        data, duplicates = _parse_json(raw, index, "safetensors index")
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"{index}: not a valid safetensors index (it must be a JSON object whose "
                                  f"\"weight_map\" maps tensor names to shard files; got {short_repr(data)}); "
                                  "re-download it")
        if duplicates:
            key, where = duplicates[0]
            raise CheckpointError(f"{index}: tensor {key!r} is listed twice in weight_map; the index is corrupt"
                                  if where is weight_map else
                                  f"{index}: key {key!r} appears twice; the index is corrupt")
        for name, shard in weight_map.items():
            if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", "..") \
                    or "\x00" in shard or (os.altsep and os.altsep in shard):
                raise CheckpointError(
                    f"{index}: shard {short_repr(shard)} for tensor {name!r} must be a plain file name inside the "
                    "model folder"
                )
            self._open(shard, check_finite)
            if name not in self._files[shard]:
                raise CheckpointError(f"{index}: tensor {name!r} is not in its shard {shard!r}")
            self._where[name] = shard
        for shard, file in self._files.items():
            for name in file:
                if self._where.get(name) != shard:
                    raise CheckpointError(f"{self.folder / shard}: tensor {name!r} is not listed in {INDEX_NAME} "
                                          "or is listed under another shard")

    def shape(self, name: str) -> tuple[int, ...]:
        return self._files[self._where[name]].shape(name)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._files[self._where[name]][name]

    def read_into(self, name: str, out: np.ndarray, start_row: int = 0) -> bool:
        return self._files[self._where[name]].read_into(name, out, start_row)

    def mapped(self, name: str) -> np.ndarray | None:
        return self._files[self._where[name]].mapped(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def save_safetensors(tensors: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write float tensors as HF expects them (`format: pt` metadata so `from_pretrained` accepts the file)."""
    from safetensors.numpy import save_file

    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise CheckpointError(f"tensor name {name!r} cannot be saved: names are strings other than "
                                  "'__metadata__'")
        value = np.asarray(value)
        if not value.flags.c_contiguous:  # not np.ascontiguousarray always: it turns a 0-d array into shape (1,)
            value = np.ascontiguousarray(value)
        if value.dtype.kind != "f" or value.dtype.itemsize not in (2, 4, 8):
            raise CheckpointError(f"tensor {name!r} has dtype {value.dtype}; only float16/32/64 tensors can be "
                                  "saved (cast it first)")
        arrays[name] = value
    # Never in place: a model that memory-maps the old file keeps its bytes (an in-place rewrite would change its
    # weights under it, or kill it with SIGBUS), and a crash leaves no half file.
    with replace_atomically(path) as partial:
        save_file(arrays, partial, metadata={"format": "pt"})
