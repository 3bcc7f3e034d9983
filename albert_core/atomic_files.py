"""Crash-safe writes: every file the project writes goes to a new file beside its target and is renamed over it
only once complete, so a crash, a full disk or a killed process leaves the old file or the new one, never half of
one. A reader that memory-maps the old file (a loaded model) keeps reading the old bytes."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator


@contextlib.contextmanager
def replace_atomically(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path` to write the new file to; on success it is flushed to disk and renamed
    over `path` (and the rename made durable where the OS allows), on any error it is removed."""
    target = os.fspath(path)
    folder, name = os.path.split(target)
    partial = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        yield partial
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        if os.path.lexists(partial):
            os.unlink(partial)
    if hasattr(os, "O_DIRECTORY"):  # POSIX: the rename itself survives a power loss once the folder is synced
        try:
            directory = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(directory)
        except OSError:
            pass
        finally:
            os.close(directory)


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` as the new content of `path` (see `replace_atomically`)."""
    with replace_atomically(path) as partial, open(partial, "xb") as handle:
        handle.write(data)
