"""Files in a shared repository directory, written so that a reader never sees half of one and a
link planted by someone else is never written through: temporary names opened with O_NOFOLLOW
and O_EXCL, fsync, then a rename."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import IO, Any

from pkgrun.errors import PkgrunError


def open_nofollow(path: Path, flags: int, mode: str) -> IO[Any]:
    """Open ``path`` without following a symlink there: in a shared repository, a link planted
    at a lock or temporary file's name must not make pkgrun write through it."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PkgrunError(
                f"{path} is a symlink; pkgrun does not write through links in the repository",
                hint="remove the link; it was not made by pkgrun",
            ) from None
        raise
    return os.fdopen(fd, mode)


def read_regular(path: Path, follow: bool) -> IO[bytes]:
    """``path`` opened to read, only when it is a regular file: never a FIFO (whose open would
    wait for a writer), a device (/dev/zero never ends) or, unless ``follow``, a symlink; for a
    file inside the repository, which someone else may have replaced."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PkgrunError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PkgrunError(f"{path} is not a regular file", hint="it was not made by pkgrun: remove it")
    return os.fdopen(fd, "rb")


def temporary_name(dest: Path) -> Path:
    """The name a file is written under before it is renamed to ``dest``: hidden, so that no
    reader and no listing takes it for a package (clean_stale removes the leftovers)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.tmp")


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` (a temporary name): never through a link or
    into a file someone else made."""
    path.unlink(missing_ok=True)
    with open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomically(path: Path, text: str) -> None:
    tmp = temporary_name(path)
    write_new(tmp, text.encode())
    os.replace(tmp, path)


def copy_aside(source: Path, dest: Path) -> Path:
    """A copy of ``source`` under ``dest``'s temporary name, for the caller to change (sign) and
    then rename into place with :func:`rename_into_place`."""
    tmp = temporary_name(dest)
    tmp.unlink(missing_ok=True)
    with source.open("rb") as src, open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return tmp


def rename_into_place(tmp: Path, dest: Path) -> None:
    fsync(tmp)
    os.replace(tmp, dest)


def copy_into_place(source: Path, dest: Path) -> None:
    """Copy under a temporary name, then rename: a reader never sees half a file."""
    rename_into_place(copy_aside(source, dest), dest)


def clean_stale(directory: Path) -> None:
    """Leftovers of a publish that was killed: partial copies (never listed by any metadata)."""
    for leftover in directory.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
