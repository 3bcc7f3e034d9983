"""A one-line progress bar on a terminal's stderr (nothing when stderr is not a terminal): `albert run` and the
trainer use it."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line progress bar on a terminal's stderr; nothing when stderr is not a terminal."""

    def __init__(self, total: int | None, stream: TextIO = sys.stderr, enabled: bool | None = None) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.enabled = stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def update(self, count: int = 1, status: str = "") -> None:
        """`count` more done; `status` (a running loss, a rate) is shown after the bar."""
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            if self.total:
                filled = int(30 * self.done / self.total)
                bar = "#" * filled + "." * (30 - filled)
                self.stream.write(f"\r[{bar}] {self.done}/{self.total} {status}")
            else:
                self.stream.write(f"\r{self.done} done {status}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
