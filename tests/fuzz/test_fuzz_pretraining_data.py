"""Property-based tests (hypothesis) of the pretraining data reader: shards (`read_shard`: NumPy `.npz` archives) and
the folder's manifest (`read_manifest`, `load_shard`), fed a real data folder (the standard library's docstrings,
`albert pretrain-data`'s code) mutated.

The property: either the shard loads and every instance in it is well formed (the fields and dtypes of the format,
offsets covering the arrays, segment starts and masked positions inside their instance: what the batches index with;
order labels 0 or 1, ids not negative), or a `DataError` naming the file is raised; never another exception, a
pickle loaded, or memory far beyond the file's size. The mutations: bytes cut, flipped or spliced; arrays removed,
added, of another dtype or rank, object arrays (pickles); offsets, positions and segment starts out of range; npy
headers declaring huge shapes; compressed members that inflate far beyond the file (zip bombs). Manifests: any JSON,
odd shard entries.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import JSON_ANY, assert_names, bounded_memory, damaged, dumps, example_dir, outcome
from hypothesis import event, given
from hypothesis import strategies as st

from albert_core.errors import DataError
from albert_core.pretraining.builder import DataOptions, build_pretraining_data
from albert_core.pretraining.sample_corpus import write_sample_corpus
from albert_core.pretraining.shards import MANIFEST_NAME, SHARD_FIELDS, load_shard, read_manifest, read_shard
from albert_core.pretraining.vocab import train_vocab


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pretraining-data")
    corpus = write_sample_corpus(root / "corpus.txt", max_documents=60)
    vocab = train_vocab(corpus, vocab_size=300, output_dir=root / "vocab", num_threads=1)
    out = root / "data"
    build_pretraining_data(corpus, tokenizer=vocab.parent, output_dir=out, workers=1,
                           options=DataOptions(max_seq_length=32, dupe_factor=1, shard_size=8))
    return out


@pytest.fixture(scope="module")
def shard(data) -> dict[str, np.ndarray]:
    return read_shard(data / "shard-00000.npz")


def check_shard(path: Path) -> None:
    with bounded_memory(path.stat().st_size):
        try:
            arrays = read_shard(path)
        except DataError as exc:
            assert_names(exc, path)
            event(outcome(exc))
            return
    event("loaded")
    assert set(arrays) >= set(SHARD_FIELDS)
    n = len(arrays["segment_b"])
    lengths = np.diff(arrays["offsets"])
    for i in range(n):  # what PretrainingBatches does with each instance
        row = arrays["input_ids"][arrays["offsets"][i]:arrays["offsets"][i + 1]]
        positions = arrays["masked_positions"][arrays["masked_offsets"][i]:arrays["masked_offsets"][i + 1]]
        assert len(row) == lengths[i] and 2 <= arrays["segment_b"][i] < len(row)
        assert np.all((0 <= positions) & (positions < len(row)))
        assert arrays["sentence_order_label"][i] in (0, 1) and (row >= 0).all()


def npz(arrays: dict[str, np.ndarray], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def m_bytes(draw, arrays):
    return damaged(draw, npz(arrays))


def m_arrays(draw, arrays):
    key = draw(st.sampled_from(sorted(SHARD_FIELDS)))
    kind = draw(st.sampled_from(["drop", "dtype", "rank", "object", "extra", "empty"]))
    if kind == "drop":
        del arrays[key]
    elif kind == "dtype":
        arrays[key] = arrays[key].astype(draw(st.sampled_from(["float32", "int64", "int16", "uint8", "bool"])))
    elif kind == "rank":
        arrays[key] = arrays[key][:, None] if draw(st.booleans()) else np.array(arrays[key][0] if len(arrays[key])
                                                                                 else 0)
    elif kind == "object":
        arrays[key] = np.array([{"a": 1}, None], dtype=object)
    elif kind == "extra":
        arrays[draw(st.text(max_size=5).filter(lambda k: k not in SHARD_FIELDS))] = np.zeros(3)
    else:
        arrays[key] = arrays[key][:0]
    return npz(arrays)


def m_values(draw, arrays):
    """Offsets, positions and segment starts moved out of their ranges (the arrays stay well typed)."""
    key = draw(st.sampled_from(["offsets", "masked_offsets", "masked_positions", "segment_b", "sentence_order_label",
                                "input_ids", "masked_ids"]))
    values = arrays[key].copy()
    if len(values):
        at = draw(st.integers(0, len(values) - 1))
        info = np.iinfo(values.dtype)
        values[at] = draw(st.sampled_from([v for v in (-1, 0, 1, 2, 1000, info.max, info.min)
                                           if info.min <= v <= info.max]))
    arrays[key] = values if draw(st.booleans()) else values[::-1].copy()
    return npz(arrays)


def m_huge_header(draw, arrays):
    """An npy member whose header declares far more data than the file holds."""
    key = draw(st.sampled_from(sorted(SHARD_FIELDS)))
    count = draw(st.sampled_from([2**31, 2**40, 2**62, 10**15]))
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(SHARD_FIELDS[key])), "fortran_order": False,
              "shape": (count,)}
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(b"\0" * 64)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, value in arrays.items():
            if name != key:
                with z.open(name + ".npy", "w") as f:
                    np.lib.format.write_array(f, value)
        z.writestr(key + ".npy", member.getvalue())
    return buffer.getvalue()


def m_zip_bomb(draw, arrays):
    """A compressed member that inflates to 64 MiB of zeros from a file of a few hundred bytes: an extra member, or
    in place of `input_ids`."""
    bomb = draw(st.sampled_from(["bomb", "input_ids"]))
    members = {**arrays, bomb: np.zeros(16 << 20, np.int32)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, value in members.items():
            with z.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, value)
    return buffer.getvalue()


@given(mutation=st.sampled_from([m_bytes, m_arrays, m_arrays, m_values, m_values, m_huge_header, m_zip_bomb]),
       data=st.data())
def test_mutated_shards(scratch, shard, mutation, data):
    with example_dir(scratch) as d:
        path = Path(d) / "shard-00000.npz"
        path.write_bytes(mutation(data.draw, {k: v.copy() for k, v in shard.items()}))
        check_shard(path)


@given(blob=st.binary(max_size=300))
def test_random_bytes(scratch, blob):
    with example_dir(scratch) as d:
        path = Path(d) / "shard-00000.npz"
        path.write_bytes(blob)
        check_shard(path)


@given(manifest=JSON_ANY, entry=JSON_ANY | st.fixed_dictionaries({"file": JSON_ANY, "instances": JSON_ANY}))
def test_manifests_and_shard_entries(scratch, data, manifest, entry):
    with example_dir(scratch) as d:
        folder = Path(d)
        (folder / MANIFEST_NAME).write_text(dumps(manifest), encoding="utf-8")
        try:
            read_manifest(folder)
        except DataError as exc:
            assert_names(exc, folder)
        (folder / "shard-00000.npz").write_bytes((data / "shard-00000.npz").read_bytes())
        try:
            load_shard(folder, entry)
        except DataError as exc:
            assert str(folder) in str(exc)
            event(outcome(exc))
        else:
            event("loaded")
            shards = json.loads((data / MANIFEST_NAME).read_text())["shards"]
            assert entry["file"] == "shard-00000.npz" and entry["instances"] == shards[0]["instances"]


# -- what escaped before --------------------------------------------------------------------------------------

def test_shards_that_escaped_before(tmp_path, shard):
    """np.load allocated what an npy header declares (MemoryError for 4 TiB from a small file) and inflated any
    compressed member (64 MiB from 67 KB); a 4301-digit integer in data.json was a ValueError; a sentence-order
    label of 2 was read."""
    path = tmp_path / "shard-00000.npz"
    for draw_values, mutation, needle in ((["input_ids", 2**40], m_huge_header, "cannot hold"),
                                          (["bomb"], m_zip_bomb, "inflate to")):
        draw = iter(draw_values).__next__  # the mutation's draws, fixed: ignores the strategy it is given
        path.write_bytes(mutation(lambda strategy, draw=draw: draw(), {k: v.copy() for k, v in shard.items()}))
        with pytest.raises(DataError, match=needle) as info:
            read_shard(path)
        assert_names(info.value, path)
    (tmp_path / MANIFEST_NAME).write_text('{"format": ' + "9" * 4301 + "}")
    with pytest.raises(DataError, match="not valid JSON"):
        read_manifest(tmp_path)
    bad = {k: v.copy() for k, v in shard.items()}
    bad["sentence_order_label"][0] = 2  # batches would hand it to the loss as a third class
    path.write_bytes(npz(bad))
    with pytest.raises(DataError, match="sentence-order label other than 0/1"):
        read_shard(path)
