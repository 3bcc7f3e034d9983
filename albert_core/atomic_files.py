"""Crash-safe writes: every file the project writes goes to a new file beside its target and is renamed over it
only once complete, so a crash, a full disk or a killed process leaves the old file or the new one, never half of
one. A reader that memory-maps the old file (a loaded model) keeps reading the old bytes."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


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


def replace_folder(complete: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Put the finished folder `complete` (written beside `destination`, on the same file system) in place of
    `destination`: renamed in one step when it is new; otherwise the old folder is first renamed aside, then removed
    once the new one is in place (and put back if that rename fails), so the path never holds half a folder."""
    tmp, dst = Path(complete), Path(destination)
    if not dst.exists():
        os.rename(tmp, dst)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
    os.rmdir(old)
    os.rename(dst, old)
    try:
        os.rename(tmp, dst)
    except OSError:
        os.rename(old, dst)  # put the previous folder back before reporting the failure
        raise
    shutil.rmtree(old, ignore_errors=True)
