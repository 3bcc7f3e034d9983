"""Property-based tests (hypothesis) of the two readers that take untrusted files: the safetensors reader
(`SafetensorsFile` and `CheckpointFolder`, fed files that `save_safetensors` wrote) and `config.json`
(`AlbertConfig.from_json_file` / `from_dict` / `to_json_file`).

The property, for every input: **either it loads and behaves like a valid one, or the project's own exception is
raised -- `CheckpointError` for a weights file or folder, `ConfigError` for config.json -- with a message naming the
file; never another exception type, a crash, a hang, or memory far beyond the input's size** (the peak that
`tracemalloc` sees, NumPy's buffers included, stays under a fixed allowance plus a small multiple of the input's
bytes).

"Behaves like a valid one" means:

- safetensors: every tensor reads (`[]`, `mapped`, `read_into`) as an array of its declared shape and dtype (bf16
  widened to float32) holding exactly the bytes at its declared offsets, or raises a `CheckpointError` naming the
  file because it holds NaN/Inf, which the project rejects; a folder gives the tensors its index lists, exactly as
  its shards were written. Writing valid tensors with `save_safetensors` and reading them back is exact (bits,
  shape, dtype).
- config.json: the config validates, and writing it (`to_json_file`) and reading that back gives an equal config
  (the remote-code keys `INERT_KEYS` aside, which are read as data and never written).

The inputs: random bytes; valid files mutated (the header length field, the JSON structure, offsets overlapping, out
of bounds or leaving holes, dtype/shape/byte-count disagreement, duplicate and empty names, deep nesting, huge
declared sizes, huge integer literals, non-UTF-8 bytes, `__metadata__` of the wrong type, NaN/Inf data); sharded
folders whose index names missing shards, `..`, absolute paths, sub-folders, symlinks (outside the folder: the Hub
cache's layout, which must load; dangling, looping, to a folder or a device), FIFOs, NUL bytes or over-long
names; configs whose fields get wrong types, out-of-range values, NaN/Inf, huge ints, unknown keys, nested junk,
non-object JSON and invalid bytes.

The examples are the same on every run (the "ci" profile in conftest.py: derandomized, bounded, no deadline); run
with HYPOTHESIS_PROFILE=deep to search many more (random, 3000 a test). The inputs that escaped the first release's
readers are pinned as plain tests at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import struct
import tempfile
import tracemalloc
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from albert_core import AlbertConfig, CheckpointError, ConfigError
from albert_core.checkpoints import INDEX_NAME, CheckpointFolder, SafetensorsFile, save_safetensors
from albert_core.config import (
    ACTIVATIONS,
    INERT_KEYS,
    LEGACY_KEYS,
    MAX_NUM_LABELS,
    POSITION_EMBEDDING_TYPES,
    PROBLEM_TYPES,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def example_dir(scratch: Path):
    """A fresh folder per example (hypothesis runs many examples in one test call)."""
    return tempfile.TemporaryDirectory(dir=scratch)


# -- the memory bound -----------------------------------------------------------------------------------------

_ALLOWANCE = 8 << 20  # fixed overheads: the interpreter, json, NumPy, the exception's traceback


@contextlib.contextmanager
def bounded_memory(input_bytes: int, factor: int = 16):
    """Fails when the block's peak traced allocation exceeds the allowance plus `factor` times the input."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= _ALLOWANCE + factor * input_bytes, f"peak {peak} bytes for an input of {input_bytes} bytes"


def outcome(exc: Exception) -> str:
    """The kind of refusal, for `--hypothesis-show-statistics` (which shows how often each happened)."""
    text = re.sub(r"\d+", "N", str(exc))
    for part in text.split(": ")[1:] or [text]:  # past the file name
        if part and not part.startswith("/"):
            return "refused: " + " ".join(w for w in part.split()[:4] if "'" not in w and '"' not in w)
    return "refused"


def assert_names(exc: Exception, path: Path) -> None:
    assert str(path) in str(exc) or repr(str(path))[1:-1] in str(exc), f"the message does not name {path}: {exc}"


# -- JSON building blocks -------------------------------------------------------------------------------------


class Raw:
    """JSON text to put verbatim where this value stands (what json.dumps cannot write: NaN tokens in odd
    places, 5000-digit integers, 100 000 levels of nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'...' if len(self.text) > 40 else ''} ({len(self.text)} chars))"


def dumps(value) -> str:
    """json.dumps, with every `Raw` value replaced by its text."""
    raws: list[str] = []

    def swap(v):
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value))
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@raw{i}@@"', raw, 1)
    return text


@st.composite
def deep_json(draw) -> Raw:
    depth = draw(st.integers(1, 100_000))
    if draw(st.booleans()):
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "0" + "}" * depth)


# Integer literals of 4300 digits (the most Python converts) and more; built by `map` to keep reprs short.
LONG_INTEGERS = st.sampled_from([4300, 4301, 5000, -4400]).map(lambda n: Raw("-" * (n < 0) + "9" * abs(n)))
RAW_TOKENS = (st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "4.0", "1.5", "-0.0", "5e-324",
                               "1e308"]).map(Raw) | LONG_INTEGERS | deep_json())
BIG_INTS = st.sampled_from([(2, 31), (2, 32), (2, 62), (2, 63), (2, 64), (10, 9), (10, 18), (10, 30), (10, 400)]
                           ).map(lambda be: be[0] ** be[1])
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=10)
                | st.sampled_from([0, -1, 1]) | BIG_INTS)
JSON_ANY = st.recursive(JSON_SCALARS | RAW_TOKENS,
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=4),
                        max_leaves=10)
PLAIN_JSON = st.recursive(JSON_SCALARS,  # what json.loads can give (NaN included), as Python values
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4),
                          max_leaves=10)
FINITE_JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                         max_size=4),
                           max_leaves=10)

# -- safetensors ----------------------------------------------------------------------------------------------

DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
TENSOR_NAMES = st.text(st.characters(codec="utf-8"), max_size=6).filter(lambda n: n != "__metadata__")
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
FLOAT_DTYPES = st.sampled_from(["<f2", "<f4", "<f8", ">f4", ">f8"])
FINITE_ARRAYS = hnp.arrays(FLOAT_DTYPES, SHAPES, elements={"allow_nan": False, "allow_infinity": False})
ANY_ARRAYS = hnp.arrays(FLOAT_DTYPES, SHAPES)
TENSORS = st.dictionaries(TENSOR_NAMES, FINITE_ARRAYS, max_size=4)


def split(blob: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def assemble(header: str | bytes, body: bytes, length: int | None = None) -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


def written(tensors: dict[str, np.ndarray], folder: Path) -> bytes:
    path = folder / "valid.safetensors"
    save_safetensors(tensors, path)
    return path.read_bytes()


def widened(array: np.ndarray, dtype: str) -> np.ndarray:
    return (array.astype(np.uint32) << 16).view(np.float32) if dtype == "BF16" else array


def reads(f: SafetensorsFile | CheckpointFolder, name: str, stored: np.dtype):
    """The three ways to read a tensor, each giving None where it does not apply (bf16: no map, no `read_into`)."""
    yield "getitem", lambda: f[name]
    yield "mapped", lambda: f.mapped(name)

    def into():
        out = np.empty(f.shape(name), stored)
        return out if f.read_into(name, out) else None

    yield "read_into", into


def check_file(path: Path) -> SafetensorsFile | None:
    """The property for one weights file; the open file when it loaded."""
    blob = path.read_bytes()
    with bounded_memory(len(blob)):
        try:
            f = SafetensorsFile(path)
        except CheckpointError as exc:
            assert_names(exc, path)
            event(outcome(exc))
            return None
        event("loaded")
        check_tensors(f, path, blob)
    return f


def check_tensors(f: SafetensorsFile, path: Path, blob: bytes) -> None:
    """A file that loaded holds what its header declares: names, shapes, dtypes, the bytes at the offsets."""
    header, body = split(blob)  # it loaded, so this is a JSON object
    assert isinstance(f.metadata, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in f.metadata.items())
    assert set(f) == set(header) - {"__metadata__"} and len(f) == len(set(f))
    for name in f:
        entry = header[name]
        shape, dtype, (begin, end) = tuple(entry["shape"]), entry["dtype"], entry["data_offsets"]
        assert f.shape(name) == shape
        assert all(type(d) is int and d >= 0 for d in shape) and type(begin) is int and type(end) is int
        want = widened(np.frombuffer(body[begin:end], DTYPES[dtype]), dtype).reshape(shape)
        finite = bool(np.isfinite(want).all())
        for how, read in reads(f, name, DTYPES[dtype]):
            try:
                got = read()
            except CheckpointError as exc:
                assert not finite and "NaN/Inf" in str(exc), (how, exc)
                assert_names(exc, path)
                continue
            if got is None:
                assert dtype == "BF16", (how, name)
                continue
            assert finite, (how, name)
            assert got.shape == shape and got.dtype == want.dtype and got.tobytes() == want.tobytes(), (how, name)


def entry_names(header: dict) -> list[str]:
    return [k for k in header if k != "__metadata__"]


# Each mutation takes (draw, header, body) of a valid file and returns the bytes of a file to read.

def m_length_field(draw, header, body):
    raw = json.dumps(header).encode()
    length = draw(st.integers(0, 2**64 - 1) | st.integers(-9, 9).map(lambda d: max(0, len(raw) + d))
                  | st.sampled_from([100 * 1024 * 1024, 100 * 1024 * 1024 + 1, 2**63]))
    return assemble(raw, body, length)


def m_cut_or_pad(draw, header, body):
    blob = assemble(json.dumps(header), body)
    return blob[:draw(st.integers(0, len(blob)))] + draw(st.binary(max_size=16))


def m_flip_bytes(draw, header, body):
    blob = bytearray(assemble(json.dumps(header), body))
    for _ in range(draw(st.integers(1, 4))):
        blob[draw(st.integers(0, len(blob) - 1))] = draw(st.integers(0, 255))
    return bytes(blob)


def m_header_junk(draw, header, body):
    return assemble(dumps(draw(JSON_ANY)), body)


def bad_shapes(shape: list[int]):
    return (st.lists(st.integers(-3, 6), max_size=4)
            | st.lists(st.sampled_from([2**31, 2**32, 2**40, 2**62, 2**63, 2**64, 10**30]), min_size=1, max_size=3)
            | st.sampled_from([[-1, -1], [-2, -2], [-1, -4], [*shape, 1], [*shape, 0], shape[1:], [True] * len(shape),
                               [float(d) for d in shape], [str(d) for d in shape], "".join(map(str, shape))])
            | st.lists(JSON_SCALARS | RAW_TOKENS, max_size=3) | JSON_ANY)


def bad_offsets(begin: int, end: int, data_len: int):
    near = st.sampled_from([begin, end, data_len, 0]).flatmap(lambda v: st.integers(v - 3, v + 3))
    return (st.lists(near, min_size=2, max_size=2) | st.lists(near, max_size=3)
            | st.sampled_from([[end, begin], [0, 2**40], [0, 2**64], [2**64, 2**64 + 4], [float(begin), float(end)],
                               [str(begin), str(end)], [False, end], {"0": begin, "1": end}, [begin, end, end]])
            | st.tuples(st.just(Raw(str(begin))), RAW_TOKENS).map(list) | JSON_ANY)


def m_entry_field(draw, header, body):
    names = entry_names(header)
    if not names:
        header["t"] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
        names = ["t"]
    name = draw(st.sampled_from(names))
    entry = header[name]
    key = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
    action = draw(st.sampled_from(["set", "set", "set", "drop", "extra key", "entry junk"]))
    if action == "drop":
        del entry[key]
    elif action == "extra key":
        entry[draw(st.text(max_size=5))] = draw(JSON_ANY)
    elif action == "entry junk":
        header[name] = draw(JSON_ANY)
    elif key == "dtype":
        entry[key] = draw(st.sampled_from(["F16", "F32", "F64", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "f32", ""])
                          | JSON_ANY)
    elif key == "shape":
        entry[key] = draw(bad_shapes(entry["shape"]))
    else:
        entry[key] = draw(bad_offsets(*entry["data_offsets"], len(body)))
    return assemble(dumps(header), body)


def m_offsets(draw, header, body):
    """Overlapping, shifted, gapped offsets; trailing bytes past the last tensor."""
    names = entry_names(header)
    kind = draw(st.sampled_from(["copy", "shift", "hole", "trailing"]))
    if kind == "trailing" or not names:
        return assemble(json.dumps(header), body + draw(st.binary(min_size=1, max_size=16)))
    name = draw(st.sampled_from(names))
    begin, end = header[name]["data_offsets"]
    if kind == "copy":
        header[name]["data_offsets"] = header[draw(st.sampled_from(names))]["data_offsets"]
    elif kind == "shift":
        delta = draw(st.integers(-8, 8))
        header[name]["data_offsets"] = [begin + delta, end + delta]
    else:  # a gap before this tensor: every tensor from here on moves along
        gap = draw(st.integers(1, 16))
        body = body[:begin] + draw(st.binary(min_size=gap, max_size=gap)) + body[begin:]
        for other in names:
            b, e = header[other]["data_offsets"]
            if b >= begin:
                header[other]["data_offsets"] = [b + gap, e + gap]
    return assemble(json.dumps(header), body)


def m_names(draw, header, body):
    names = entry_names(header)
    kind = draw(st.sampled_from(["duplicate", "duplicate key", "empty", "metadata", "collide"]))
    if not names:
        return assemble('{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
                        '"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', body)
    name = draw(st.sampled_from(names))
    items = list(header.items())
    if kind == "duplicate":  # the JSON text has the name twice
        items.append((name, header[name]))
        return assemble("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items) + "}", body)
    if kind == "duplicate key":  # one entry has a key twice
        entry = header[name]
        text = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entry.items()) + ', "dtype": "F16"}'
        header[name] = Raw(text)
        return assemble(dumps(header), body)
    new = {"empty": "", "metadata": "__metadata__", "collide": draw(st.sampled_from(names))}[kind]
    return assemble(dumps({(new if k == name else k): v for k, v in items}), body)


def m_metadata(draw, header, body):
    header["__metadata__"] = draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3) | JSON_ANY)
    return assemble(dumps(header), body)


def m_deep(draw, header, body):
    deep = draw(deep_json())
    names = entry_names(header)
    where = draw(st.sampled_from(["header", "metadata", "shape", "entry"]))
    if where == "header":
        return assemble(deep.text, body)
    if where == "shape" and names:
        header[draw(st.sampled_from(names))]["shape"] = deep
    elif where == "entry":
        header["deep"] = deep
    else:
        header["__metadata__"] = deep
    return assemble(dumps(header), body)


def m_huge_sizes(draw, header, body):
    """Declared sizes far beyond the file: the reader must refuse them without allocating them."""
    huge = draw(st.sampled_from([2**31, 2**32, 2**40, 2**62, 2**63, 2**64, 10**30]))
    name = draw(st.sampled_from(entry_names(header) or ["t"]))
    header[name] = {"dtype": draw(st.sampled_from(sorted(DTYPES))),
                    "shape": draw(st.sampled_from([[huge], [huge, huge], [huge, 0], [0, huge], [2**32, 2**32]])),
                    "data_offsets": draw(st.sampled_from([[0, 0], [0, huge], [0, len(body)], [huge, huge + 4]]))}
    return assemble(json.dumps(header), body)


def m_non_utf8(draw, header, body):
    raw = json.dumps(header, ensure_ascii=False).encode()
    at = draw(st.integers(0, len(raw)))
    bad = draw(st.sampled_from([b"\x80", b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf5\x80\x80\x80", b"\xe2\x82"]))
    return assemble(raw[:at] + bad + raw[at:], body)


def m_non_finite_data(draw, header, body):
    names = [n for n in entry_names(header) if header[n]["data_offsets"][1] > header[n]["data_offsets"][0]]
    if not names:
        return assemble(json.dumps(header), body)
    name = draw(st.sampled_from(names))
    dtype = DTYPES[header[name]["dtype"]]
    begin, end = header[name]["data_offsets"]
    at = begin + dtype.itemsize * draw(st.integers(0, (end - begin) // dtype.itemsize - 1))
    value = np.array(draw(st.sampled_from([np.nan, np.inf, -np.inf])), dtype).tobytes()
    return assemble(json.dumps(header), body[:at] + value + body[at + len(value):])


def m_dtype_as_bf16(draw, header, body):
    """Relabel an F16 tensor as BF16 (same byte count): loads, widened to float32."""
    for name in entry_names(header):
        if header[name]["dtype"] == "F16":
            header[name]["dtype"] = "BF16"
    return assemble(json.dumps(header), body)


MUTATIONS = [m_length_field, m_cut_or_pad, m_flip_bytes, m_header_junk, m_entry_field, m_entry_field, m_offsets,
             m_names, m_metadata, m_deep, m_huge_sizes, m_non_utf8, m_non_finite_data, m_dtype_as_bf16]


@given(blob=st.binary(max_size=300)
       | st.tuples(st.binary(max_size=200), st.binary(max_size=64)).map(lambda hb: assemble(hb[0], hb[1]))
       | st.tuples(st.text(max_size=100), st.binary(max_size=64)).map(lambda hb: assemble(hb[0], hb[1])))
def test_random_bytes(scratch, blob):
    with example_dir(scratch) as d:
        path = Path(d) / "model.safetensors"
        path.write_bytes(blob)
        check_file(path)


@given(tensors=TENSORS, mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_mutated_valid_files(scratch, tensors, mutation, data):
    with example_dir(scratch) as d:
        header, body = split(written(tensors, Path(d)))
        path = Path(d) / "model.safetensors"
        path.write_bytes(mutation(data.draw, header, body))
        check_file(path)


@given(tensors=st.dictionaries(TENSOR_NAMES, ANY_ARRAYS, max_size=4))
def test_round_trip_is_exact(scratch, tensors):
    """save_safetensors -> SafetensorsFile gives back every tensor bit for bit (little-endian), shape and dtype
    included; a tensor with NaN/Inf is written, but reading it raises (and reads exactly with check_finite=False)."""
    with example_dir(scratch) as d:
        path = Path(d) / "model.safetensors"
        save_safetensors(tensors, path)
        f, unchecked = SafetensorsFile(path), SafetensorsFile(path, check_finite=False)
        assert set(f) == set(tensors) and f.metadata == {"format": "pt"}
        for name, array in tensors.items():
            want = array.astype(array.dtype.newbyteorder("<"))
            got = unchecked[name]
            assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()
            for how, read in reads(f, name, want.dtype):
                if not np.isfinite(array).all():
                    with pytest.raises(CheckpointError, match="NaN/Inf") as info:
                        read()
                    assert_names(info.value, path)
                    continue
                got = read()
                assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes(), how


# -- sharded folders ------------------------------------------------------------------------------------------

# Shard names that must be refused (or, for a file that is not there, reported) without leaving the folder.
SPECIAL_SHARDS = ["", ".", "..", "../outside.safetensors", "sub/x.safetensors", "/etc/passwd", "missing.safetensors",
                  "a\x00b.safetensors", "n" * 300 + ".safetensors", "dangling", "loop", "to_folder", "subfolder",
                  "fifo", "devnull", "escape", "OUTSIDE_ABSOLUTE"]


def make_special(name: str, root: Path, folder: Path) -> str:
    """Creates what the special shard name stands for; returns the name to write in the index."""
    if name == "dangling":
        (folder / name).symlink_to(root / "nowhere.safetensors")
    elif name == "loop":
        (folder / name).symlink_to(folder / name)
    elif name == "to_folder":
        (folder / name).symlink_to(root)
    elif name == "subfolder":
        (folder / name).mkdir()
    elif name == "fifo":
        os.mkfifo(folder / name)
    elif name == "devnull":
        (folder / name).symlink_to("/dev/null")
    elif name == "escape":  # a valid file outside, with tensors the index does not expect
        save_safetensors({"other": np.zeros(2, np.float32)}, root / "outside.safetensors")
        (folder / name).symlink_to("../outside.safetensors")
    elif name == "OUTSIDE_ABSOLUTE":
        save_safetensors({"other": np.zeros(2, np.float32)}, root / "outside.safetensors")
        return str(root / "outside.safetensors")
    return name


@given(tensors=st.dictionaries(TENSOR_NAMES, FINITE_ARRAYS, min_size=1, max_size=4), data=st.data())
def test_sharded_folders(scratch, tensors, data):
    draw = data.draw
    with example_dir(scratch) as d:
        root = Path(d)
        folder = root / "model"
        folder.mkdir()
        names = sorted(tensors)
        count = draw(st.integers(1, min(3, len(names))), label="shards")
        where = {n: draw(st.integers(0, count - 1)) for n in names}
        shards = [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]
        for i, shard in enumerate(shards):
            save_safetensors({n: tensors[n] for n in names if where[n] == i}, folder / shard)
        index = {"metadata": {"total_size": 0}, "weight_map": {n: shards[where[n]] for n in names}}
        kind = draw(st.sampled_from(["valid", "hub cache symlinks", "special shard", "text shard", "junk shard",
                                     "weight_map junk", "index junk", "index bytes", "unlisted", "unknown tensor",
                                     "moved", "duplicate"]), label="mutation")
        name = draw(st.sampled_from(names))
        must_load = kind in ("valid", "hub cache symlinks")
        text = None
        if kind == "hub cache symlinks":  # huggingface_hub: snapshots/<rev>/<file> -> ../../blobs/<hash>
            (root / "blobs").mkdir()
            for i, shard in enumerate(shards):
                (folder / shard).rename(root / "blobs" / f"blob{i}")
                (folder / shard).symlink_to(Path("..") / "blobs" / f"blob{i}")
        elif kind == "special shard":
            index["weight_map"][name] = make_special(draw(st.sampled_from(SPECIAL_SHARDS)), root, folder)
        elif kind == "text shard":
            index["weight_map"][name] = draw(st.text(max_size=12))
        elif kind == "junk shard":
            index["weight_map"][name] = draw(JSON_ANY)
        elif kind == "weight_map junk":
            index["weight_map"] = draw(JSON_ANY)
        elif kind == "index junk":
            index = draw(JSON_ANY)
        elif kind == "unlisted":
            del index["weight_map"][name]
        elif kind == "unknown tensor":
            index["weight_map"][name + "-extra"] = shards[where[name]]
        elif kind == "moved":
            index["weight_map"][name] = shards[(where[name] + 1) % count]
            must_load = count == 1
        elif kind == "duplicate":
            pairs = [*index["weight_map"].items(), (name, index["weight_map"][name])]
            text = '{"weight_map": {' + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}}"
        raw = (text or dumps(index)).encode()
        if kind == "index bytes":
            raw = draw(st.binary(max_size=64) | st.just(raw[:draw(st.integers(0, len(raw)))] + b"\xff"))
        (folder / INDEX_NAME).write_bytes(raw)
        check_folder(folder, tensors, must_load)


def check_folder(folder: Path, tensors: dict[str, np.ndarray], must_load: bool) -> None:
    size = sum(p.stat().st_size for p in folder.parent.rglob("*") if p.is_file() and not p.is_symlink())
    with bounded_memory(size):
        try:
            f = CheckpointFolder(folder)
        except CheckpointError as exc:
            assert not must_load, exc
            assert_names(exc, folder)
            event(outcome(exc))
            return
        event("loaded")
        # It loaded, so it gives the tensors as written: all of them, or (an index that leaves out every tensor of a
        # shard never opens that shard) fewer.
        assert set(f) <= set(tensors) and (set(f) == set(tensors) or not must_load)
        for name in f:
            want = tensors[name].astype(tensors[name].dtype.newbyteorder("<"))
            assert f.shape(name) == want.shape
            for how, read in reads(f, name, want.dtype):
                got = read()
                assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes(), how


def test_single_file_symlinked_from_the_hub_cache_and_odd_paths(tmp_path):
    """model.safetensors as a symlink into a blobs folder (the Hub cache) loads; a folder, a FIFO or a device
    where a weights file should be is a CheckpointError naming it (a FIFO must not block the reader)."""
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    (tmp_path / "blobs").mkdir()
    save_safetensors(tensors, tmp_path / "blobs" / "abc")
    folder = tmp_path / "snapshot"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to("../blobs/abc")
    np.testing.assert_array_equal(CheckpointFolder(folder)["w"], tensors["w"])
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for odd in (tmp_path / "fifo", tmp_path / "dir", Path("/dev/null"), tmp_path / "nothing", tmp_path / "a\x00b"):
        with pytest.raises(CheckpointError) as info:
            SafetensorsFile(odd)
        assert_names(info.value, odd)


# -- config.json ----------------------------------------------------------------------------------------------

FIELDS = [f.name for f in dataclasses.fields(AlbertConfig) if f.name != "extra"]
# Keys whose default keeps any valid config valid, so a config may leave them out.
OPTIONAL = ["embedding_size", "intermediate_size", "hidden_act", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size", "initializer_range",
            "layer_norm_eps", "classifier_dropout_prob", "position_embedding_type", "pad_token_id", "bos_token_id",
            "eos_token_id", "problem_type", "id2label"]
PROBABILITIES = st.floats(0, 1) | st.sampled_from([0, 1])
POSITIVE = st.floats(min_value=0, exclude_min=True, allow_infinity=False) | st.integers(1, 10**30)
UNKNOWN_KEYS = st.text(max_size=8).filter(lambda k: k not in FIELDS and k not in LEGACY_KEYS)


@st.composite
def valid_config_dicts(draw) -> dict:
    heads, groups, per_group = draw(st.integers(1, 8)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    vocab = draw(st.integers(1, 50_000))
    token_ids = st.none() | st.integers(-(2**40), 2**40)
    data = {
        "vocab_size": vocab, "embedding_size": draw(st.integers(1, 64)),
        "hidden_size": heads * draw(st.integers(1, 16)), "num_attention_heads": heads,
        "num_hidden_layers": groups * per_group, "num_hidden_groups": groups,
        "inner_group_num": draw(st.integers(1, per_group)), "intermediate_size": draw(st.integers(1, 128)),
        "hidden_act": draw(st.sampled_from(ACTIVATIONS)), "hidden_dropout_prob": draw(PROBABILITIES),
        "attention_probs_dropout_prob": draw(PROBABILITIES), "max_position_embeddings": draw(st.integers(1, 4096)),
        "type_vocab_size": draw(st.integers(1, 4)), "initializer_range": draw(POSITIVE),
        "layer_norm_eps": draw(POSITIVE), "classifier_dropout_prob": draw(st.none() | PROBABILITIES),
        "position_embedding_type": draw(st.sampled_from(POSITION_EMBEDDING_TYPES)),
        "pad_token_id": draw(st.none() | st.integers(0, vocab - 1)), "bos_token_id": draw(token_ids),
        "eos_token_id": draw(token_ids), "problem_type": draw(st.sampled_from(PROBLEM_TYPES)),
        "id2label": {str(i): label for i, label in enumerate(draw(st.lists(st.text(max_size=6), min_size=1,
                                                                              max_size=5)))},
    }
    for key in draw(st.lists(st.sampled_from(OPTIONAL), unique=True)):
        del data[key]
    if "id2label" not in data and draw(st.booleans()):
        data["num_labels"] = draw(st.integers(1, 8))
    if draw(st.booleans()):
        data.update({"model_type": "albert", "architectures": ["AlbertForMaskedLM"], "transformers_version": "4.57"})
    data.update(draw(st.dictionaries(UNKNOWN_KEYS | st.sampled_from(sorted(INERT_KEYS)), FINITE_JSON, max_size=3)))
    return data


def without_inert(cfg: AlbertConfig) -> AlbertConfig:
    return dataclasses.replace(cfg, extra={k: v for k, v in cfg.extra.items() if k not in INERT_KEYS})


def same(a: AlbertConfig, b: AlbertConfig) -> bool:
    """Equal configs; NaN in an unknown key (json reads and writes NaN, as HF does) counts as equal to itself."""
    return a == b or json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def check_round_trip(cfg: AlbertConfig, out: Path) -> None:
    cfg.validate()
    cfg.to_json_file(out)
    assert not INERT_KEYS & set(json.loads(out.read_text("utf-8")))
    assert same(AlbertConfig.from_json_file(out), without_inert(cfg))
    assert same(AlbertConfig.from_dict(cfg.to_dict()), without_inert(cfg))


# num_labels alone names up to MAX_NUM_LABELS labels: a bounded cost, whatever the file's size
_LABELS_ALLOWANCE = 320 * MAX_NUM_LABELS


def check_config_file(path: Path) -> AlbertConfig | None:
    """The property for one config.json; the config when it loaded."""
    with bounded_memory(path.stat().st_size + _LABELS_ALLOWANCE // 64, factor=64):
        try:
            cfg = AlbertConfig.from_json_file(path)
        except ConfigError as exc:
            assert_names(exc, path)
            event(outcome(exc))
            return None
    event("loaded")
    check_round_trip(cfg, path.with_name("again.json"))
    return cfg


@given(data=valid_config_dicts())
def test_valid_config_round_trips(scratch, data):
    with example_dir(scratch) as d:
        path = Path(d) / "config.json"
        path.write_text(json.dumps(data), "utf-8")
        cfg = AlbertConfig.from_json_file(path)  # a valid config must load
        for key, value in data.items():
            if key in FIELDS and key not in ("id2label", "num_labels"):
                assert getattr(cfg, key) == value and type(getattr(cfg, key)) is type(value), key
        assert cfg.id2label == {int(k): v for k, v in data.get("id2label", {}).items()} or "id2label" not in data
        check_round_trip(cfg, Path(d) / "again.json")


ODD_VALUES = st.sampled_from(
    [0, -1, 1e308, -0.0, 5e-324, float("nan"), float("inf"), float("-inf"), True,
     False, None, "", "12", "gelu", [], {}, [1], {"0": "a"}, {"0": ["x"]}, {"a": 1.5}, {"a": "1"}, {"1": "b"},
     10**9, 10**18, 2**62, 100_001])
JUNK = JSON_ANY | RAW_TOKENS | ODD_VALUES | BIG_INTS


@given(data=valid_config_dicts(),
       junk=st.dictionaries(st.sampled_from(FIELDS + ["model_type", "extra"]) | UNKNOWN_KEYS, JUNK,
                            min_size=1, max_size=3))
def test_config_fields_with_junk(scratch, data, junk):
    with example_dir(scratch) as d:
        path = Path(d) / "config.json"
        path.write_text(dumps({**data, **junk}), "utf-8")
        check_config_file(path)


@given(blob=st.binary(max_size=200) | JSON_ANY.map(lambda v: dumps(v).encode())
       | st.tuples(valid_config_dicts(), st.integers(0, 10**6), st.binary(max_size=4)).map(
           lambda t: (lambda raw: raw[:t[1] % (len(raw) + 1)] + t[2] + raw[t[1] % (len(raw) + 1):])(
               json.dumps(t[0]).encode())))
def test_config_bytes(scratch, blob):
    """Any bytes: invalid UTF-8, invalid JSON, JSON that is not an object, deep nesting, a valid config with bytes
    spliced in."""
    with example_dir(scratch) as d:
        path = Path(d) / "config.json"
        path.write_bytes(blob)
        cfg = check_config_file(path)
        if cfg is not None:
            assert isinstance(json.loads(blob), dict)


@given(data=st.dictionaries(st.sampled_from(FIELDS) | UNKNOWN_KEYS, PLAIN_JSON | ODD_VALUES,
                            max_size=4) | PLAIN_JSON)
def test_from_dict_with_junk(scratch, data):
    """from_dict on any JSON-like value: a ConfigError (whose message names a key or the value) or a valid config."""
    with bounded_memory(len(repr(data)) + _LABELS_ALLOWANCE // 64, factor=64):
        try:
            cfg = AlbertConfig.from_dict(data)
        except ConfigError as exc:
            assert str(exc)
            event(outcome(exc))
            return
    event("loaded")
    with example_dir(scratch) as d:
        check_round_trip(cfg, Path(d) / "again.json")


# -- what escaped before: the smallest inputs hypothesis found against the readers of the first release --------

def _entry(**changes) -> str:
    return json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], **changes}})


ESCAPED_HEADERS = {  # name -> (header text, data bytes); each raised something other than CheckpointError, or hung
    "dtype of a list type (TypeError)": (_entry(dtype=[]), b"\0" * 4),
    "shape [-1, -1] (ValueError at reshape)": (_entry(shape=[-1, -1]), b"\0" * 4),
    "shape [2**32, 2**32], 0 bytes by int64 overflow (ValueError)": (_entry(shape=[2**32, 2**32], data_offsets=[0, 0]),
                                                                     b""),
    "shape [2**62, 0] (ValueError: array is too big)": (_entry(shape=[2**62, 0], data_offsets=[0, 0]), b""),
    "shape [1e400] (OverflowError)": (_entry().replace("[1]", "[1e400]"), b"\0" * 4),
    "shape '1', read as (1,)": (_entry(shape="1"), b"\0" * 4),
    "data_offsets of strings (TypeError)": (_entry(data_offsets=["0", "4"]), b"\0" * 4),
    "data_offsets of floats (TypeError at read)": (_entry(data_offsets=[0.0, 4.0]), b"\0" * 4),
    "a 5000-digit integer (ValueError)": (_entry().replace("[0, 4]", "[0, " + "9" * 5000 + "]"), b"\0" * 4),
    "100 000 nested lists (RecursionError)": ("[" * 100_000 + "]" * 100_000, b""),
    "__metadata__ a list, accepted": (json.dumps({"__metadata__": [1, 2]}), b""),
    "duplicate name, message without the file": ('{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
                                                 '"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', b""),
}


@pytest.mark.parametrize("name", sorted(ESCAPED_HEADERS))
def test_headers_that_escaped_before(tmp_path, name):
    header, data = ESCAPED_HEADERS[name]
    path = tmp_path / "model.safetensors"
    path.write_bytes(assemble(header, data))
    with pytest.raises(CheckpointError) as info:
        f = SafetensorsFile(path)
        for tensor in f:
            f[tensor]
    assert_names(info.value, path)


def test_reads_that_failed_before(tmp_path):
    """A 0-d tensor came back with shape (1,) (np.ascontiguousarray in save_safetensors); read_into a zero-size
    buffer raised TypeError (a memoryview of it cannot be cast)."""
    save_safetensors({"s": np.array(1.5, np.float32), "e": np.zeros((0, 3), np.float32)}, tmp_path / "m.safetensors")
    f = SafetensorsFile(tmp_path / "m.safetensors")
    assert f["s"].shape == () and f["s"] == 1.5
    assert f.read_into("e", np.empty((0, 3), np.float32))


ESCAPED_CONFIGS = {  # name -> config.json text; each raised something other than ConfigError, or hung
    "id2label an int (AttributeError)": '{"id2label": 9223372036854775808}',
    "label2id value Infinity (OverflowError)": '{"label2id": {"a": Infinity}}',
    "layer_norm_eps 10**400 (OverflowError)": '{"layer_norm_eps": 1' + "0" * 400 + "}",
    "a 5000-digit integer (ValueError)": '{"x": ' + "9" * 5000 + "}",
    "100 000 nested lists (RecursionError)": '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "num_labels 10**8 (hangs building 10**8 label names)": '{"num_labels": 100000000}',
    "900 nested lists (loads, but writing it back fails)": '{"x": ' + "[" * 900 + "]" * 900 + "}",
    "null, message without the file": "null",
}


@pytest.mark.parametrize("name", sorted(ESCAPED_CONFIGS))
def test_configs_that_escaped_before(tmp_path, name):
    path = tmp_path / "config.json"
    path.write_text(ESCAPED_CONFIGS[name], "utf-8")
    with pytest.raises(ConfigError) as info:
        AlbertConfig.from_json_file(path)
    assert_names(info.value, path)
