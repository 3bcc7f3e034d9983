"""Training checkpoints in the core alone (on the `fake-train` backend, tests/fake_training_backend.py): what a
checkpoint holds, that it is an HF folder every backend loads, and that a run killed at any moment, even in the
middle of writing one, leaves only complete checkpoints, from which a resumed run ends exactly where an
uninterrupted run ends."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import fake_training_backend as fake
import numpy as np
import pytest
from training_helpers import SPIECE, classification_rows, write_jsonl

import albert_core
from albert_core.checkpoints.safetensors_file import SafetensorsFile
from albert_core.errors import CheckpointError
from albert_core.layout import param_table
from albert_core.training.checkpoint import (
    OPTIMIZER_NAME,
    STATE_NAME,
    checkpoint_folders,
    read_optimizer_state,
    read_state,
    remove_partial,
    save_checkpoint,
)
from albert_core.training.runlog import LOG_NAME
from albert_core.training.step import MOMENT_KEYS, moment_key

TESTS = Path(__file__).resolve().parent
TASK = "sequence-classification"
CHECKPOINT_FILES = {"config.json", "model.safetensors", "spiece.model", OPTIMIZER_NAME, STATE_NAME}
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import fake_training_backend as fake
fake.install()
fake.SETTINGS.update(json.loads(sys.argv[2]))
import albert_core
albert_core.finetune(**json.loads(sys.argv[3]))
"""


@pytest.fixture(autouse=True)
def fake_backend():
    if not SPIECE.is_file():
        pytest.skip(f"the official vocabulary is not at {SPIECE}")
    fake.install()
    fake.reset()
    yield
    fake.reset()


def options(tmp_path: Path, output: str, **changes) -> dict:
    train = tmp_path / "train.jsonl"
    if not train.exists():
        write_jsonl(train, classification_rows())
    return {"task": "text-classification", "model": "random:tiny", "tokenizer": str(SPIECE), "train": str(train),
            "output_dir": str(tmp_path / output), "backend": fake.NAME, "max_steps": 6, "save_steps": 1,
            "per_device_train_batch_size": 4, "logging_steps": 1, "seed": 11, "progress": False, "plot": False,
            **changes}


def weights(folder: Path) -> dict[str, np.ndarray]:
    file = SafetensorsFile(folder / "model.safetensors")
    return {name: np.array(file[name]) for name in file.keys()}


def assert_complete(folder: Path) -> dict:
    """A checkpoint is whole: an HF folder that loads, its optimizer state for every parameter, its trainer state."""
    assert {p.name for p in folder.iterdir()} == CHECKPOINT_FILES, sorted(p.name for p in folder.iterdir())
    state = read_state(folder)
    assert folder.name == f"checkpoint-{state['step']}" and state["optimizer_steps"] == state["step"]
    model = albert_core.load(folder, task=TASK)
    names = [spec.name for spec in param_table(model.config, TASK)]
    moments = read_optimizer_state(folder)
    assert set(moments) == {moment_key(m, n) for m in MOMENT_KEYS for n in names}
    assert all(moments[moment_key(m, n)].shape == model.params[n].shape for m in MOMENT_KEYS for n in names)
    return state


# -------------------------------------------------------------------------------------------- what a checkpoint is
def test_a_checkpoint_is_an_hf_folder_with_the_training_state(tmp_path):
    result = albert_core.finetune(**options(tmp_path, "out", max_steps=2))
    out = result.output_dir
    assert [p.name for p in checkpoint_folders(out)] == ["checkpoint-1", "checkpoint-2"]
    state = assert_complete(out / "checkpoint-2")
    assert state["format"] == 1 and state["task"] == TASK and state["backend"] == fake.NAME
    assert state["total_steps"] == 2 and state["seed"] == 11 and state["epoch"] == 0.5
    assert state["label_names"] == ["collections", "json", "shutil", "textwrap"]
    moments = read_optimizer_state(out / "checkpoint-2")
    assert all(v.dtype == np.float32 for v in moments.values())
    assert (out / "checkpoint-2" / "spiece.model").read_bytes() == SPIECE.read_bytes()
    config = json.loads((out / "checkpoint-2" / "config.json").read_text())
    assert config["architectures"] == ["AlbertForSequenceClassification"]
    # The final model is the last checkpoint's weights, without the training state.
    final = {p.name for p in out.iterdir() if p.is_file()}
    assert final == {"config.json", "model.safetensors", "spiece.model", "tokenizer_config.json",
                     "special_tokens_map.json", LOG_NAME}
    assert all(np.array_equal(a, b) for a, b in zip(weights(out).values(), weights(out / "checkpoint-2").values()))


def test_read_state_refuses_what_is_not_a_trainer_state(tmp_path):
    folder = tmp_path / "checkpoint-3"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="is not a training checkpoint: it has no trainer_state.json"):
        read_state(folder)
    (folder / STATE_NAME).write_text('{"step": 3, ')
    with pytest.raises(CheckpointError, match="cannot be read .*resume from an earlier checkpoint"):
        read_state(folder)
    (folder / STATE_NAME).write_text('{"format": 99, "step": 3}')
    with pytest.raises(CheckpointError, match="is not a trainer state of format 1"):
        read_state(folder)


def test_a_failed_write_leaves_nothing_and_an_old_checkpoint_stays_until_the_new_one_is_whole(tmp_path):
    albert_core.finetune(**options(tmp_path, "out", max_steps=1))
    out = tmp_path / "out"
    model = albert_core.load(out / "checkpoint-1", task=TASK)
    before = (out / "checkpoint-1" / STATE_NAME).read_bytes()

    class Broken(fake.FakeStep):
        def optimizer_state(self):
            raise OSError("disk full")

    step = Broken(model, None)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(out, 1, model, step, {"step": 1}, SPIECE)
    assert (out / "checkpoint-1" / STATE_NAME).read_bytes() == before  # the old one, untouched
    assert not list(out.glob(".checkpoint-*")) and [p.name for p in checkpoint_folders(out)] == ["checkpoint-1"]
    good = fake.FakeStep(model, None)
    good._steps = 1
    save_checkpoint(out, 1, model, good, {"step": 1, "note": "rewritten"}, SPIECE)  # replaced whole
    assert read_state(out / "checkpoint-1")["note"] == "rewritten" and not list(out.glob(".checkpoint-*"))


# ----------------------------------------------------------------------------------------------------- crashes
def start(tmp_path: Path, settings: dict, opts: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(TESTS), json.dumps(settings), json.dumps(opts)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def kill_when(proc: subprocess.Popen, marker: Path, ready, delay: float, timeout: float = 60) -> bool:
    """SIGKILL `proc` `delay` seconds after `ready(marker text)` first holds; False if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            return False
        if marker.exists() and ready(marker.read_text()):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return proc.returncode == -signal.SIGKILL
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the child neither reached a checkpoint nor finished")


def test_killed_while_writing_checkpoints_resumes_exactly(tmp_path):
    reference = albert_core.finetune(**options(tmp_path, "reference", max_steps=8))
    expected, expected_log = weights(reference.output_dir), (reference.output_dir / LOG_NAME).read_text()
    fake.reset()
    out, marker = tmp_path / "crashed", tmp_path / "saving"
    opts = options(tmp_path, "crashed", max_steps=8)
    settings = {"state_delay": 0.3, "saving_marker": str(marker)}

    # 1. Killed inside the write of checkpoint-2 (its moments being gathered): only checkpoint-1 counts.
    proc = start(tmp_path, settings, opts)
    assert kill_when(proc, marker, lambda text: text == "2", delay=0.05)
    partial = list(out.glob(".checkpoint-2.partial-*"))
    assert len(partial) == 1 and (partial[0] / "model.safetensors").is_file()
    assert not (partial[0] / STATE_NAME).exists()
    assert [p.name for p in checkpoint_folders(out)] == ["checkpoint-1"]
    assert assert_complete(out / "checkpoint-1")["step"] == 1

    # 2. Resumed and killed again at random moments around later checkpoint writes (model written, moments
    # gathered, files renamed, the next step begun): whatever is listed is whole, and the latest loads.
    rng = random.Random(20240611)
    kills = []
    for _ in range(4):
        marker.unlink(missing_ok=True)
        delay = rng.uniform(0.0, 0.45)
        proc = start(tmp_path, settings, {**opts, "resume": True})
        if kill_when(proc, marker, lambda text: text != "", delay):
            kills.append(round(delay, 3))
        listed = checkpoint_folders(out)
        assert listed, f"kills after {kills}"
        for folder in listed:
            assert_complete(folder)
        assert not [p for p in out.iterdir() if p.name.startswith("checkpoint-") and p not in listed]
    assert kills, "no attempt was killed"

    # 3. The last resume removes what the crashes left and ends where the uninterrupted run ended, bit for bit.
    fake.reset()
    latest = read_state(checkpoint_folders(out)[-1])["step"]
    result = albert_core.finetune(**{**opts, "resume": True})
    assert result.global_step == 8
    assert not list(out.glob(".checkpoint-*")), f"left over: {sorted(p.name for p in out.glob('.*'))}"
    assert [c["t"] for c in fake.CALLS["step"]] == list(range(latest, 8))
    final = weights(out)
    assert final.keys() == expected.keys() and all(np.array_equal(final[k], expected[k]) for k in expected)
    assert (out / LOG_NAME).read_text() == expected_log, kills


def test_remove_partial_only_touches_what_a_crash_left(tmp_path):
    for name in (".checkpoint-3.partial-x1", ".checkpoint-12.partial-abc", "checkpoint-3", ".cache", "notes",
                 ".checkpoint-3.old-k2", ".checkpoint-4.old-k3", ".checkpoint-5.old-k4"):
        (tmp_path / name).mkdir()
    # Killed between the two renames of rewriting checkpoint-4: the old one is the only copy, and is put back.
    (tmp_path / ".checkpoint-4.old-k3" / STATE_NAME).write_text("{}")
    (tmp_path / ".checkpoint-3.old-k2" / STATE_NAME).write_text("{}")  # checkpoint-3 is there: the old copy goes
    remove_partial(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [".cache", "checkpoint-3", "checkpoint-4", "notes"]
    assert (tmp_path / "checkpoint-4" / STATE_NAME).is_file()
