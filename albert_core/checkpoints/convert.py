"""`convert`: any registered checkpoint format in, an HF-compatible folder out, all or nothing.

The source is read through `albert_core.formats.read_checkpoint` (so a plugin's format works here without
changes), its weights are checked against `albert_core.layout` for one task, and the folder is written to a
temporary directory next to DST and renamed into place only when everything succeeded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic_files import replace_folder
from ..errors import CheckpointError
from ..layout import (
    ARCHITECTURES,
    IGNORED_KEYS,
    TIED_ALIASES,
    all_known_names,
    canonical_name,
    head_role,
    param_table,
)
from ..tasks import BASE, SPECS, TASKS, task_check
from .formats import Checkpoint, read_checkpoint
from .hf_folder import TOKENIZER_NAME, HFSafetensorsFormat

_TASK_OF_ARCHITECTURE = {arch: task for task, arch in ARCHITECTURES.items()}


@dataclass
class ConversionReport:
    """What `convert` did: where from, where to, which task, and what it left out."""

    source: str
    destination: Path
    format: str
    task: str
    architecture: str
    tensors: int
    hidden_act: str
    skipped: list[str] = field(default_factory=list)  # entries the reader dropped (optimizer slots, steps...)
    dropped: list[str] = field(default_factory=list)  # ALBERT weights of heads the chosen task does not have
    tokenizer: Path | None = None  # the copied tokenizer model, if any

    def summary(self) -> str:
        lines = [f"converted {self.source} ({self.format}) -> {self.destination}",
                 f"  task {self.task} ({self.architecture}), {self.tensors} tensors, hidden_act {self.hidden_act}",
                 f"  tokenizer: {self.tokenizer.name if self.tokenizer else 'none in the source folder'}"]
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} non-weight entries (optimizer state, step counters)")
        if self.dropped:
            lines.append(f"  dropped weights the {self.architecture} class has no place for: {self.dropped}")
        return "\n".join(lines)


def infer_task(names: set[str], architectures: list[str] | None = None) -> str:
    """The task to write: the source's HF class if it names one, else the heads present.

    SOP + MLM heads -> pretraining; MLM head only -> masked-lm; `qa_outputs` -> question-answering;
    `classifier` -> sequence-classification (pass `task=` for token-classification or multiple-choice,
    whose weights look the same); no head -> base.
    """
    for arch in architectures or []:
        if arch in _TASK_OF_ARCHITECTURE:
            return _TASK_OF_ARCHITECTURE[arch]
    present = {head_role(name) for name in names}
    # The task with the most head roles that are all present, first in table order on a tie (the classifier of
    # sequence classification, token classification and multiple choice looks the same: the first wins).
    heads = {task: set(SPECS[task].roles) - {"pooler"} for task in TASKS}
    for task in sorted(TASKS, key=lambda t: -len(heads[t])):
        if heads[task] and heads[task] <= present:
            return task
    return BASE


def _describe(weights: Mapping, key: str) -> str:
    source_name = getattr(weights, "source_name", None)
    origin = source_name(key) if callable(source_name) else key
    return key if origin == key else f"{key} (from {origin})"


def plan(checkpoint: Checkpoint, task: str | None = None) -> tuple[str, dict[str, str], list[str]]:
    """Match the checkpoint against the layout: `(task, canonical name -> source key, dropped keys)`.

    Raises `CheckpointError` listing every unknown entry, missing weight and shape mismatch at once.
    """
    config, weights = checkpoint.config, checkpoint.weights
    known = all_known_names(config)
    by_canonical: dict[str, str] = {}
    unknown = []
    for key in weights:
        name = canonical_name(key)
        if name in IGNORED_KEYS:
            continue
        if name not in known:
            unknown.append(_describe(weights, key))
        elif name in TIED_ALIASES:
            by_canonical.setdefault(TIED_ALIASES[name], key)  # the canonical key wins when both are present
        else:
            by_canonical[name] = key
    task = task_check(task) if task is not None else infer_task(set(by_canonical), checkpoint.architectures)
    table = param_table(config, task)
    missing = [s.name for s in table if s.name not in by_canonical]
    mismatched = [f"{_describe(weights, by_canonical[s.name])}: checkpoint {checkpoint.shape(by_canonical[s.name])}, "
                  f"config expects {s.shape}"
                  for s in table if s.name in by_canonical and checkpoint.shape(by_canonical[s.name]) != s.shape]
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} entries that are not ALBERT weights (see docs/formats.md for the names "
                        f"each format knows): {sorted(unknown)}")
    if missing:
        problems.append(f"{len(missing)} weights of {ARCHITECTURES[task]} missing from the checkpoint: {missing}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches with the config: " + "; ".join(mismatched))
    if problems:
        raise CheckpointError(
            f"cannot convert {checkpoint.source or 'the checkpoint'} as task {task!r}: " + " | ".join(problems)
            + ". Check that the config file belongs to this checkpoint (hidden_size, num_hidden_groups, "
            "inner_group_num, vocab_size...) and that the checkpoint is complete; pass task= to choose the head.")
    needed = {s.name for s in table}
    dropped = sorted(_describe(weights, k) for n, k in by_canonical.items() if n not in needed)
    return task, {s.name: by_canonical[s.name] for s in table}, dropped


class _Float32View(Mapping[str, np.ndarray]):
    """Canonical name -> float32 array read from the source on access (nothing is held twice)."""

    def __init__(self, weights: Mapping[str, np.ndarray], source_of: dict[str, str]) -> None:
        self._weights, self._source_of = weights, source_of

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self._weights[self._source_of[name]]).astype(np.float32, copy=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._source_of)

    def __len__(self) -> int:
        return len(self._source_of)


def _check_destination(dst: Path, src: str, overwrite: bool) -> None:
    if dst.exists() and not dst.is_dir():
        raise CheckpointError(f"destination {str(dst)!r} exists and is not a folder; choose a folder path")
    if dst.exists() and not overwrite:
        raise CheckpointError(f"destination {str(dst)!r} already exists; pass overwrite=True (--overwrite) to "
                              "replace it, or choose a new folder")
    if Path(src).exists() and dst.resolve() == Path(src).resolve():
        raise CheckpointError(f"destination {str(dst)!r} is the source folder; write to a new folder")


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, format: str | None = None,
            task: str | None = None, overwrite: bool = False) -> ConversionReport:
    """Convert the checkpoint at `src` into an HF-compatible ALBERT folder at `dst`.

    `src`: anything a registered checkpoint format reads (`albert formats` lists them): an HF folder, an
    original Google TF1 checkpoint folder or prefix (with the `albert-tensorflow` plugin), ...
    `format`: the format name; by default the first format whose `detect` accepts `src`.
    `task`: the HF class to write (`"pretraining"` -> `AlbertForPreTraining`...); by default inferred by
    `infer_task` from the source's `architectures` or the heads present. Weights of other heads are dropped
    and listed in the report.
    `overwrite`: replace an existing `dst` folder (only once the new one is complete).

    Writes `config.json` (with `architectures`), `model.safetensors` (float32) and `spiece.model` when the
    source folder has a tokenizer model. All checks happen before anything is written, and the folder is
    written to a temporary directory beside `dst` and renamed into place, so a failed conversion leaves
    `dst` as it was. Raises `CheckpointError` listing every problem found.
    """
    dst = Path(dst)
    _check_destination(dst, os.fspath(src), overwrite)  # fail fast, before reading gigabytes
    format_name, checkpoint = read_checkpoint(src, format)
    chosen, source_of, dropped = plan(checkpoint, task)
    architecture = ARCHITECTURES[chosen]
    out = Checkpoint(checkpoint.config, _Float32View(checkpoint.weights, source_of), source=checkpoint.source,
                     tokenizer_file=checkpoint.tokenizer_file, architectures=[architecture])
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.converting-", dir=dst.parent))
    try:
        HFSafetensorsFormat().write(tmp, out)
        replace_folder(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ConversionReport(
        source=checkpoint.source or os.fspath(src), destination=dst, format=format_name, task=chosen,
        architecture=architecture, tensors=len(source_of), hidden_act=checkpoint.config.hidden_act,
        skipped=list(checkpoint.skipped), dropped=dropped,
        tokenizer=dst / TOKENIZER_NAME if checkpoint.tokenizer_file is not None else None)
