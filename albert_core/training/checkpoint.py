"""Training checkpoints: `OUTPUT/checkpoint-STEP/` is an HF model folder (`config.json`, `model.safetensors`,
`spiece.model`) that HF and every backend load unchanged, plus the training state in framework-neutral files:
`optimizer.safetensors` (AdamW's moments under the parameters' HF names, HF's layout) and `trainer_state.json`
(the step, the schedule, the seed and data position, the best metric). A checkpoint is written into a hidden
folder beside its final name and renamed into place when complete, so a crash never leaves half of one under a
checkpoint's name; `latest` only ever sees complete ones."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..api import save
from ..atomic_files import replace_folder, write_atomically
from ..checkpoints.safetensors_file import SafetensorsFile, save_safetensors
from ..errors import CheckpointError, TrainingError
from .step import TrainStep

OPTIMIZER_NAME = "optimizer.safetensors"
STATE_NAME = "trainer_state.json"
STATE_FORMAT = 1
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_folders(output_dir: Path) -> list[Path]:
    """The complete checkpoints in `output_dir`, oldest (lowest step) first."""
    found = []
    for child in output_dir.iterdir() if output_dir.is_dir() else ():
        match = _NAME.match(child.name)
        if match and (child / STATE_NAME).is_file():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def remove_partial(output_dir: Path) -> None:
    """Delete what a crash during a checkpoint write left: hidden `.checkpoint-*.partial-*` folders, and the
    `.checkpoint-N.old-*` folder that rewriting an existing checkpoint-N moves aside (put back as checkpoint-N when a
    crash came between the two renames and left no checkpoint-N)."""
    for child in output_dir.glob(".checkpoint-*.partial-*"):
        shutil.rmtree(child, ignore_errors=True)
    for child in output_dir.glob(".checkpoint-*.old-*"):
        final = output_dir / child.name[1:].partition(".old-")[0]
        if _NAME.match(final.name) and not final.exists() and (child / STATE_NAME).is_file():
            os.rename(child, final)
        else:
            shutil.rmtree(child, ignore_errors=True)


def save_checkpoint(output_dir: Path, step: int, model: Any, train_step: TrainStep, state: dict[str, Any],
                    tokenizer_file: Path | None) -> Path:
    final = output_dir / f"checkpoint-{step}"
    partial = Path(tempfile.mkdtemp(prefix=f".checkpoint-{step}.partial-", dir=output_dir))
    try:
        save(model, partial, tokenizer_file=tokenizer_file)
        save_safetensors(train_step.optimizer_state(), partial / OPTIMIZER_NAME)
        body = {"format": STATE_FORMAT, **state, "optimizer_steps": train_step.steps_taken}
        write_atomically(partial / STATE_NAME, json.dumps(body, indent=2).encode())  # last: marks it complete
        replace_folder(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE_NAME
    if not path.is_file():
        raise CheckpointError(f"{str(folder)!r} is not a training checkpoint: it has no {STATE_NAME}; pass a "
                              "checkpoint-STEP folder that `albert finetune` wrote, or --resume with the output folder")
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} cannot be read ({exc}); resume from an earlier checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a trainer state of format {STATE_FORMAT}; resume from a "
                              "checkpoint this version of albert-core wrote")
    return state


def read_optimizer_state(folder: Path) -> dict[str, np.ndarray]:
    return {name: np.asarray(value) for name, value in SafetensorsFile(folder / OPTIMIZER_NAME).items()}


def resolve_resume(resume: str | bool, output_dir: Path) -> Path:
    """`--resume` (True: the latest checkpoint in `output_dir`; or a folder: a checkpoint, or an output folder whose
    latest checkpoint is meant) -> the checkpoint folder."""
    folder = output_dir if resume is True or resume == "latest" else Path(resume)
    if (folder / STATE_NAME).is_file():
        return folder
    found = checkpoint_folders(folder)
    if not found:
        raise TrainingError(f"--resume: {str(folder)!r} holds no complete checkpoint (checkpoint-STEP with "
                            f"{STATE_NAME}); start without --resume, or pass the folder of an earlier run")
    return found[-1]


def rotate(output_dir: Path, limit: int | None, keep: Path | None) -> None:
    """Delete the oldest checkpoints beyond `limit`, never `keep` (the best one) nor the latest (the one a resume
    continues from): with both protected, up to two stay even when `limit` is 1, as in HF Trainer."""
    if limit is None:
        return
    folders = checkpoint_folders(output_dir)
    protected = {folders[-1].resolve()} if folders else set()
    if keep is not None:
        protected.add(keep.resolve())
    removable = [f for f in folders if f.resolve() not in protected]
    for folder in removable[: max(0, len(folders) - limit)]:
        shutil.rmtree(folder, ignore_errors=True)
