"""`OUTPUT/log.jsonl` (one JSON object per logged step or evaluation) and the PNG of its curves."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..atomic_files import replace_atomically, write_atomically

LOG_NAME = "log.jsonl"
PLOT_NAME = "training.png"


def _clean(value: Any) -> Any:
    """JSON has no NaN or Infinity: non-finite floats are written as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunLog:
    """Appends records to log.jsonl, each flushed to disk when written, so a killed run keeps what it logged.
    With `write=False` (a data-parallel process other than rank 0) it only keeps the records in memory."""

    def __init__(self, output_dir: Path, resume_step: int | None, *, write: bool = True) -> None:
        self.path, self.writes = output_dir / LOG_NAME, write
        self.records: list[dict[str, Any]] = []
        if resume_step is not None and self.path.is_file():  # keep what the checkpoint's run had logged so far
            self.records = [r for r in _read(self.path) if r.get("step", 0) <= resume_step]
        if write:
            write_atomically(self.path, b"".join((json.dumps(r) + "\n").encode() for r in self.records))

    def write(self, record: dict[str, Any]) -> None:
        record = {k: _clean(v) for k, v in record.items()}
        self.records.append(record)
        if not self.writes:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _read(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a line cut short by a crash
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def plot(records: list[dict[str, Any]], path: Path) -> bool:
    """The training loss and every eval metric against the step, as a PNG; False when matplotlib is missing
    (`pip install 'albert-core[plot]'`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    train = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float))]
    evals = sorted({k for r in records for k in r if k.startswith("eval_") and isinstance(r[k], (int, float))})
    panels = 1 + bool(evals)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    if train:
        axes[0][0].plot(*zip(*train), label="train loss")
    axes[0][0].set(xlabel="step", ylabel="loss", title="training loss")
    for key in evals:
        points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        axes[0][-1].plot(*zip(*points), marker="o", label=key)
    if evals:
        axes[0][-1].set(xlabel="step", title="evaluation")
    for ax in axes[0]:
        ax.legend()
    fig.tight_layout()
    with replace_atomically(path) as partial:
        fig.savefig(partial, format="png")
    plt.close(fig)
    return True
