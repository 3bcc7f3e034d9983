"""What the property tests of tests/fuzz share: the memory bound, the outcome of a refusal, JSON building blocks
that json.dumps cannot write, and the safetensors layout (header length, JSON header, data) with the three ways to
read a tensor."""

from __future__ import annotations

import contextlib
import json
import re
import struct
import tempfile
import tracemalloc
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from albert_core.checkpoints import CheckpointFolder, SafetensorsFile, save_safetensors


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


def damaged(draw, blob: bytes) -> bytes:
    """`blob` cut short, with bytes overwritten, or with bytes spliced in (what a failed download or a bad disk
    does to a file)."""
    kind = draw(st.sampled_from(["cut", "flip", "splice"]))
    if kind == "cut":
        return blob[:draw(st.integers(0, len(blob) - 1))]
    out = bytearray(blob)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    at = draw(st.integers(0, len(out)))
    return bytes(out[:at]) + draw(st.binary(min_size=1, max_size=16)) + bytes(out[at:])


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


