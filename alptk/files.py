"""Crash-safe file writing: everything is written under a temporary name, synced to disk and renamed when
complete; a write the file system refuses (disk full, read-only, no permission, no such directory) is one line."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from alptk.errors import StorageError

TMP_SUFFIX = ".tmp"
STAGED = ".new"  # suffix of a finished job's output until every job of its stage has finished
# what to do about the errors a file system gives for reasons outside alptk
STORAGE_ADVICE = {
    errno.ENOSPC: "free space, or write elsewhere",
    errno.EDQUOT: "free space within your quota, or write elsewhere",
    errno.EROFS: "write elsewhere",
    errno.EFBIG: "a file size limit (ulimit -f) or the file system's largest file: write elsewhere",
    errno.EACCES: "check the permissions, or write elsewhere",
    errno.EPERM: "check the permissions, or write elsewhere",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a directory: check the path",
    errno.EEXIST: "a part of the path is a file, not a directory: check the path",
    errno.EISDIR: "expected a file: check the path",
    errno.EIO: "the disk or network file system failed: check it and rerun",
    errno.ESTALE: "the network file system lost the file: rerun",
}


def storage_error(err: OSError, path: str | Path | None = None, outcome: str = "") -> StorageError:
    """``err`` as one line: the file (``path``, else the one ``err`` names), what went wrong, what to do, and
    ``outcome`` (what was kept)."""
    file = path if path is not None else err.filename
    reason = err.strerror or str(err) or type(err).__name__
    advice = STORAGE_ADVICE.get(err.errno)
    message = reason[:1].lower() + reason[1:] + (f" ({advice})" if advice else "") + (f"; {outcome}" if outcome else "")
    return StorageError(f"{file}: {message}" if file is not None else message)


def tmp_name(path: str | Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: str | Path, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path; if the block succeeds, sync it to disk, rename it to ``path`` and sync the directory
    (so the rename survives a crash of the machine); delete it otherwise. The file system refusing any of it (an
    ``OSError``) is a ``StorageError`` naming ``path``, which is left as it was. ``sync=False`` leaves out the two
    syncs (milliseconds each) for bulk outputs that a rerun of their stage rewrites anyway: the rename alone keeps
    them whole when a process is killed."""
    path = Path(path)
    tmp = tmp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield tmp
            if sync:
                _fsync(tmp)
            os.replace(tmp, path)
            if sync:
                _fsync(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as err:
        raise storage_error(err, path, "the file was left as it was") from err


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", sync: bool = True) -> Iterator[IO]:
    """Open ``path`` for writing through a temporary file that replaces it on success (see ``atomic_path``)."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path, sync) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f


def write_text(path: str | Path, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_open(path) as f:
        f.write(text)


def remove_tmp_files(directory: str | Path, pids: Iterable[int]) -> None:
    """Delete the temporary files that processes ``pids`` (killed mid-write) left anywhere under ``directory``."""
    endings = tuple(f".{pid}{TMP_SUFFIX}" for pid in pids)
    for path in Path(directory).rglob(f".*{TMP_SUFFIX}"):
        if path.name.endswith(endings):
            path.unlink(missing_ok=True)


def remove(path: Path) -> None:
    """Delete a file or a directory tree, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def staging(targets: list[Path]) -> Iterator[list[Path]]:
    """Paths beside ``targets`` (files or directories) for a stage's jobs to write: cleared of what a killed run
    left there, and removed again if the block fails. Once every job has succeeded, ``promote`` moves them into
    place, so a run that fails leaves the previous outputs intact."""
    staged = [target.with_name(target.name + STAGED) for target in targets]
    for path in staged:
        remove(path)
    try:
        yield staged
    except BaseException:
        for path in staged:
            remove(path)
        raise


def promote(staged: list[Path], targets: list[Path]) -> None:
    """Move staged outputs into place, replacing the previous ones."""
    for new, target in zip(staged, targets, strict=True):
        if new.is_dir():
            remove(target)
        os.replace(new, target)


def backup_files(files: list[Path], backup_dir: Path) -> None:
    """Copy files into ``backup_dir`` (created if needed), keeping their names."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, backup_dir / f.name)


def _fsync(path: Path) -> None:
    """Flush a file's or a directory's data to disk (a no-op on file systems that cannot sync directories)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)
