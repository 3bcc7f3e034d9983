"""Property-based tests (hypothesis) of sharded checkpoint folders (`CheckpointFolder`): an index
(`model.safetensors.index.json`) naming missing shards, `..`, absolute paths, sub-folders, symlinks (outside the
folder: the Hub cache's layout, which must load; dangling, looping, to a folder or a device), FIFOs, NUL bytes or
over-long names, junk of any JSON type, invalid bytes.

The property: either the folder loads and gives the tensors its index lists, exactly as its shards were written, or
a `CheckpointError` naming the folder is raised; never another exception, a hang or memory far beyond the folder's
size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from fuzzing import (
    FINITE_ARRAYS,
    JSON_ANY,
    TENSOR_NAMES,
    assert_names,
    bounded_memory,
    dumps,
    example_dir,
    outcome,
    reads,
)
from hypothesis import event, given
from hypothesis import strategies as st

from albert_core import CheckpointError
from albert_core.checkpoints import INDEX_NAME, CheckpointFolder, SafetensorsFile, save_safetensors

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
