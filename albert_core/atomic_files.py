"""Crash-safe writes: every file the project writes goes to a new file beside its target and is renamed over it
only once complete, so a crash, a full disk or a killed process leaves the old file or the new one, never half of
one. A reader that memory-maps the old file (a loaded model) keeps reading the old bytes. A folder of several files
(a saved model, a checkpoint, a data folder) is written as a whole beside its target and swapped in
(`update_folder`, `replace_folder`). docs/reliability.md says what this promises and how it is tested."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
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
    _sync_folder(Path(folder or "."))


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` as the new content of `path` (see `replace_atomically`)."""
    with replace_atomically(path) as partial, open(partial, "xb") as handle:
        handle.write(data)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where the OS or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # an old kernel, a file system without it
        return False
    raise OSError(error, os.strerror(error), str(b))


def replace_folder(complete: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Put the finished folder `complete` (written beside `destination`, on the same file system) in place of
    `destination`, in one step: renamed when `destination` is new, else swapped with it (Linux) and the old one
    removed. Where the OS cannot swap, the old folder is renamed aside first, then removed once the new one is in
    place (and put back if that rename fails); a crash between the two renames leaves no `destination` but both
    complete folders beside it."""
    tmp, dst = Path(complete), Path(destination)
    if not dst.exists():
        os.rename(tmp, dst)
        _sync_folder(dst.parent)
        return
    if _exchange(tmp, dst):
        _sync_folder(dst.parent)
        shutil.rmtree(tmp, ignore_errors=True)  # the old content, now at the temporary name
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
    os.rmdir(old)
    os.rename(dst, old)
    try:
        os.rename(tmp, dst)
    except OSError:
        os.rename(old, dst)  # put the previous folder back before reporting the failure
        raise
    _sync_folder(dst.parent)
    shutil.rmtree(old, ignore_errors=True)


def _sync_folder(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):  # POSIX: a rename survives a power loss once its folder is synced
        try:
            handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(handle)
        except OSError:
            pass
        finally:
            os.close(handle)


def _link_tree(source: Path, target: Path) -> None:
    """`target` (an empty folder) gets `source`'s tree: sub-folders made, files hard-linked (copied where the file
    system has no links). Writers replace files by renaming, so a linked file is never changed through the copy."""
    for root, folders, files in os.walk(source):
        here = target / Path(root).relative_to(source)
        for name in folders:
            (here / name).mkdir()
        for name in files:
            try:
                os.link(Path(root) / name, here / name, follow_symlinks=False)
            except OSError:
                shutil.copy2(Path(root) / name, here / name, follow_symlinks=False)


# The stages of the `update_folder` blocks open in this process: a writer that updates one of them (the trainer's
# final folder: `save`, then the tokenizer's `save_pretrained`) writes into it directly, instead of copying the
# whole tree (every checkpoint) again for each nested call.
_OPEN_STAGES: set[Path] = set()


@contextlib.contextmanager
def update_folder(destination: str | os.PathLike) -> Iterator[Path]:
    """Yields a folder to write the new files of `destination` into; it starts as a copy of what `destination`
    holds (hard links, so instant), and replaces `destination` in one step when the block ends without error
    (`replace_folder`); on an error, or a crash, `destination` keeps its old content. Files written into it must
    be replaced by renaming (`write_atomically`, `replace_atomically`), never rewritten in place."""
    dst = Path(destination)
    dst = dst.resolve() if dst.is_symlink() else dst
    if dst.resolve() in _OPEN_STAGES:  # already a stage of an enclosing update: it is swapped in as a whole
        yield dst
        return
    if dst.exists() and not dst.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_stages(dst)
    stage = Path(tempfile.mkdtemp(prefix=f"{_stage_prefix(dst)}{os.getpid()}-", dir=dst.parent))
    _OPEN_STAGES.add(stage.resolve())
    try:
        if dst.exists():
            _link_tree(dst, stage)
        yield stage
        _sync_folder(stage)
        replace_folder(stage, dst)
    finally:
        _OPEN_STAGES.discard(stage.resolve())
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _stage_prefix(dst: Path) -> str:
    """Staging folders are hidden: `.model.partial-PID-XXXX`; inside a hidden staging folder of a caller
    (`.checkpoint-7.partial-XXXX`), `.checkpoint-7.partial-XXXX.partial-PID-XXXX`, which the caller's cleanup
    of its own prefix also removes."""
    return ("" if dst.name.startswith(".") else ".") + dst.name + ".partial-"


def _remove_stale_stages(dst: Path) -> None:
    """The staging folders of `update_folder` calls that crashed (their process is gone)."""
    prefix = _stage_prefix(dst)
    for stage in dst.parent.glob(glob.escape(prefix) + "*-*"):
        pid = stage.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True
