"""Property-based tests (hypothesis) of the safetensors reader (`SafetensorsFile`), fed files that
`save_safetensors` wrote, mutated, and random bytes.

The property (see docs/reliability.md), for every input: **either it loads and behaves like a valid one, or a
`CheckpointError` naming the file is raised; never another exception type, a crash, a hang, or memory far beyond
the input's size** (the peak that `tracemalloc` sees, NumPy's buffers included, stays under a fixed allowance plus a
small multiple of the input's bytes). "Behaves like a valid one": every tensor reads (`[]`, `mapped`, `read_into`)
as an array of its declared shape and dtype (bf16 widened to float32) holding exactly the bytes at its declared
offsets, or raises a `CheckpointError` naming the file because it holds NaN/Inf, which the project rejects. Writing
valid tensors with `save_safetensors` and reading them back is exact (bits, shape, dtype).

The mutations: the header length field, the JSON structure, offsets overlapping, out of bounds or leaving holes,
dtype/shape/byte-count disagreement, duplicate and empty names, deep nesting, huge declared sizes, huge integer
literals, non-UTF-8 bytes, `__metadata__` of the wrong type, NaN/Inf data. The inputs that escaped the first
release's reader are pinned as plain tests at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fuzzing import (
    ANY_ARRAYS,
    DTYPES,
    FINITE_ARRAYS,
    JSON_ANY,
    JSON_SCALARS,
    RAW_TOKENS,
    TENSOR_NAMES,
    Raw,
    assemble,
    assert_names,
    bounded_memory,
    deep_json,
    dumps,
    example_dir,
    outcome,
    reads,
    split,
    widened,
    written,
)
from hypothesis import event, given
from hypothesis import strategies as st

from albert_core import CheckpointError
from albert_core.checkpoints import SafetensorsFile, save_safetensors
from albert_core.checkpoints.safetensors_file import MAX_HEADER_BYTES

TENSORS = st.dictionaries(TENSOR_NAMES, FINITE_ARRAYS, max_size=4)


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
                  | st.sampled_from([MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1, 2**63]))
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


def test_a_header_over_the_reference_limit(tmp_path):
    """A header of more than 100,000,000 bytes (the safetensors library's limit) inside a file that big is refused
    before it is read (a sparse file: no disk written)."""
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:
        f.write((MAX_HEADER_BYTES + 1).to_bytes(8, "little"))
        f.seek(MAX_HEADER_BYTES + 64)
        f.write(b"}")
    with bounded_memory(0), pytest.raises(CheckpointError, match="over the 100,000,000 that safetensors allows"):
        SafetensorsFile(path)


def test_reads_that_failed_before(tmp_path):
    """A 0-d tensor came back with shape (1,) (np.ascontiguousarray in save_safetensors); read_into a zero-size
    buffer raised TypeError (a memoryview of it cannot be cast)."""
    save_safetensors({"s": np.array(1.5, np.float32), "e": np.zeros((0, 3), np.float32)}, tmp_path / "m.safetensors")
    f = SafetensorsFile(tmp_path / "m.safetensors")
    assert f["s"].shape == () and f["s"] == 1.5
    assert f.read_into("e", np.empty((0, 3), np.float32))
