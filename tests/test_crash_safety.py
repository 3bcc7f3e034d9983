"""Every writer survives SIGKILL: each test forks a child that writes one of two complete versions (A, B) over a
destination holding the other, kills it after a random delay (up to a little more than a whole write takes), and
checks what is there: the old complete version or the new one, which loads; never a mix, half a file, or nothing
once something was written. Then it writes the other version over that, and so on.

The writers: `albert_core.save` (a model folder: config.json, model.safetensors, spiece.model), `convert` (with
overwrite), the tokenizer's `save_pretrained`, training checkpoints, the pretraining data folder, and `albert run
--output`. ALBERT_KILLS kills per writer (default 12; `nox -s fuzz` runs 60).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_pipelines import vocab_file

import albert_core
from albert_core.checkpoints.convert import convert
from albert_core.pretraining.builder import DataOptions, build_pretraining_data
from albert_core.pretraining.sample_corpus import write_sample_corpus
from albert_core.pretraining.shards import iter_shards, read_manifest
from albert_core.pretraining.vocab import train_vocab
from albert_core.tokenizer import AlbertTokenizer
from albert_core.training.checkpoint import (
    OPTIMIZER_NAME,
    checkpoint_folders,
    read_optimizer_state,
    read_state,
    save_checkpoint,
)

KILLS = int(os.environ.get("ALBERT_KILLS", "12"))
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill test forks its writers")


def _fork(write: Callable[[int], None], version: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: write, and leave without running the parent's cleanup
        code = 1
        try:
            with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
                write(version)
            code = 0
        finally:
            os._exit(code)
    return pid


def kill_repeatedly(write: Callable[[int], None], found: Callable[[], int | None], kills: int = KILLS) -> dict:
    """Alternately write versions 0 and 1 in forked children, SIGKILLed after a random delay; after each, the
    destination must hold the version it held before or the new one, complete."""
    write(0)  # the first complete version
    assert found() == 0
    began = time.perf_counter()  # how long a forked write takes, to spread the kills over it
    _, status = os.waitpid(_fork(write, 1), 0)
    seconds = time.perf_counter() - began
    assert status == 0 and found() == 1
    rng = random.Random(20261201)
    current, outcomes = 1, {"old": 0, "new": 0, "finished": 0}
    while outcomes["old"] + outcomes["new"] < kills:
        new = 1 - current
        pid = _fork(write, new)
        time.sleep(rng.uniform(0.0, 1.2 * seconds))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            now = found()
            assert now in (current, new), f"after a kill: version {now}, expected {current} or {new}"
            outcomes["old" if now == current else "new"] += 1
        else:
            assert os.WEXITSTATUS(status) == 0, "the writer failed without being killed"
            assert found() == new
            outcomes["finished"] += 1
            now = new
        current = now
    return outcomes


def digest(*parts: bytes) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory) -> tuple[Path, Path]:
    """Two different vocabularies: the official one (or a small one trained by test_pipelines) and one trained
    here on the standard library's docstrings."""
    root = tmp_path_factory.mktemp("vocabs")
    corpus = write_sample_corpus(root / "corpus.txt", max_documents=40)
    return vocab_file(root), train_vocab(corpus, vocab_size=300, output_dir=root / "own", num_threads=1)


def models(vocabs) -> list[Any]:
    """Versions 0 and 1 of a model: other weights, other labels, other tokenizers."""
    out = []
    for version, labels in ((0, ["neg", "pos"]), (1, ["a", "b", "c"])):
        config = albert_core.AlbertConfig(**{**albert_core.api.TINY_CONFIG,
                                             "vocab_size": AlbertTokenizer(vocabs[version]).vocab_size})
        config = config.with_labels(labels)
        out.append(albert_core.load(albert_core.Checkpoint(config, albert_core.init_params(
            config, "sequence-classification", seed=version)), task="sequence-classification"))
    return out


def model_version(folder: Path, versions: list[Any], vocabs) -> int | None:
    if not folder.exists():
        return None
    loaded = albert_core.load(folder, task="sequence-classification")
    for version, model in enumerate(versions):
        if loaded.config.id2label == model.config.id2label:
            assert all(np.array_equal(loaded.params[k], model.params[k]) for k in model.params), "mixed weights"
            assert (folder / "spiece.model").read_bytes() == Path(vocabs[version]).read_bytes(), "mixed tokenizer"
            return version
    raise AssertionError(f"{folder} holds neither version")


def test_save(tmp_path, vocabs):
    versions, dst = models(vocabs), tmp_path / "model"
    (tmp_path / "keep").mkdir()
    outcomes = kill_repeatedly(lambda v: albert_core.save(versions[v], dst, tokenizer_file=vocabs[v]),
                               lambda: model_version(dst, versions, vocabs))
    assert outcomes["finished"], outcomes  # the delays spanned whole writes: kills landed all along them
    albert_core.save(versions[0], dst, tokenizer_file=vocabs[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "model"]  # a write removes what kills left


def test_convert_with_overwrite(tmp_path, vocabs):
    versions = models(vocabs)
    sources = [albert_core.save(m, tmp_path / f"src-{v}", tokenizer_file=vocabs[v]) for v, m in enumerate(versions)]
    dst = tmp_path / "converted"
    outcomes = kill_repeatedly(lambda v: convert(sources[v], dst, overwrite=True),
                               lambda: model_version(dst, versions, vocabs))
    assert outcomes["finished"], outcomes


def test_tokenizer_save_pretrained(tmp_path, vocabs):
    tokenizers = [AlbertTokenizer(vocabs[0], do_lower_case=True), AlbertTokenizer(vocabs[1], do_lower_case=False)]
    dst = tmp_path / "tokenizer"

    def version() -> int | None:
        if not dst.exists():
            return None
        loaded = AlbertTokenizer.from_pretrained(dst)
        v = 0 if loaded.text_options.do_lower_case else 1
        assert (dst / "spiece.model").read_bytes() == Path(vocabs[v]).read_bytes(), "options of one, model of other"
        return v

    outcomes = kill_repeatedly(lambda v: tokenizers[v].save_pretrained(dst), version)
    assert outcomes["finished"], outcomes


class _Step:
    """What `save_checkpoint` asks of a training step: its optimizer state and its count."""

    def __init__(self, model, version: int) -> None:
        self.state = {f"exp_avg.{k}": np.full(v.shape, version, np.float32) for k, v in model.params.items()}
        self.steps_taken = 7

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return self.state


def test_training_checkpoint(tmp_path, vocabs):
    versions, out = models(vocabs), tmp_path / "run"
    out.mkdir()

    def write(v: int) -> None:
        save_checkpoint(out, 7, versions[v], _Step(versions[v], v), {"step": 7, "version": v}, Path(vocabs[v]))

    def version() -> int | None:
        listed = checkpoint_folders(out)
        if not listed:
            return None
        state = read_state(listed[-1])
        assert model_version(listed[-1], versions, vocabs) == state["version"]
        moments = read_optimizer_state(listed[-1])
        assert all((m == state["version"]).all() for m in moments.values()), f"mixed {OPTIMIZER_NAME}"
        return state["version"]

    outcomes = kill_repeatedly(write, version)
    assert outcomes["finished"], outcomes


def test_pretraining_data(tmp_path, vocabs):
    corpus = write_sample_corpus(tmp_path / "corpus.txt", max_documents=40)
    dst = tmp_path / "data"

    def write(v: int) -> None:
        build_pretraining_data(corpus, tokenizer=Path(vocabs[1]).parent, output_dir=dst, workers=1,
                               options=DataOptions(max_seq_length=32, dupe_factor=1, seed=v, shard_size=20))

    def version() -> int | None:
        if not dst.exists():
            return None
        manifest = read_manifest(dst)
        rows = sum(len(s["segment_b"]) for s in iter_shards(dst, manifest))
        assert rows == manifest["instances"] == json.loads((dst / "stats.json").read_text())["instances"]
        return manifest["options"]["seed"]

    outcomes = kill_repeatedly(write, version)
    assert outcomes["finished"], outcomes


def test_albert_run_output(tmp_path, vocabs):
    from albert_core.cli import main

    sources = []
    for v in (0, 1):
        path = tmp_path / f"in-{v}.jsonl"
        path.write_text("".join(json.dumps(f"text {i} of version {v}") + "\n" for i in range(40 + 20 * v)))
        sources.append(path)
    dst = tmp_path / "out.jsonl"

    def write(v: int) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", "--task", "feature-extraction", "--model", "random:tiny", "--tokenizer",
                         str(vocabs[0]), "--input", str(sources[v]), "--output", str(dst), "--no-progress"]) == 0

    def version() -> int | None:
        if not dst.exists():
            return None
        rows = [json.loads(line) for line in dst.read_text().splitlines()]
        assert len(rows) in (40, 60), f"{len(rows)} rows: a truncated output"
        return 0 if len(rows) == 40 else 1

    outcomes = kill_repeatedly(write, version)
    assert outcomes["finished"], outcomes
    assert sys.modules["albert_core"]  # the children's imports did not disturb the parent


def test_update_folder_removes_the_stages_of_crashed_writers_only(tmp_path):
    """A writer killed inside `update_folder` leaves its hidden stage beside the folder; the next update of that
    folder removes it, and keeps the stages of writers still running (another process's, or this one's)."""
    import subprocess

    from albert_core.atomic_files import update_folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    model = tmp_path / "model"
    model.mkdir()
    (model / "old.txt").write_text("old")
    stages = {who: tmp_path / f".model.partial-{pid}-x1" for who, pid in
              (("crashed", dead), ("running", os.getppid()), ("this process", os.getpid()), ("no pid", "abc"))}
    for stage in stages.values():
        stage.mkdir()
        (stage / "half.bin").write_bytes(b"\0" * 10)
    with update_folder(model) as stage:
        (stage / "new.txt").write_text("new")
    assert sorted(p.name for p in model.iterdir()) == ["new.txt", "old.txt"]
    left = {who for who, stage in stages.items() if stage.exists()}
    assert left == {"running", "this process", "no pid"}, left
