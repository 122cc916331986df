"""Archives that carry files into and out of containers (`podman cp -` / `docker cp -` read and
write tar streams). Building a container's inputs as an archive works the same on a local and a
remote engine: nothing depends on a path the engine's host shares with this one.

Entries are owned by root and symlinks stay symlinks (never followed). A file keeps its mode; a
directory tree's entries get the modes version control knows (``tree_mode``: 0755 for a
directory or a file with an executable bit, 0644 for any other file), so that what a container
sees of a recipe is the same from every checkout and umask, and all of it is in the inputs.
Extracting takes exactly the member asked for, as a regular file, whatever else the archive
holds: an archive coming out of a container is data from the build.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pkgrun.errors import PkgrunError


@dataclass(frozen=True)
class Item:
    """One entry: ``dest`` inside the container (absolute) from a host file, or from ``data``."""

    dest: str
    source: Path | None = None
    data: bytes | None = None
    mode: int | None = None  # default: the source's mode, 0644 for data


def write_archive(
    out: Path,
    items: Iterable[Item],
    trees: Iterable[tuple[Path, str]] = (),
    leave_out: Collection[str] = (),
) -> None:
    """A tar of ``items`` and of whole directories (``trees``: host directory, container
    directory) but the entries whose path relative to their tree is in ``leave_out``, with
    every parent directory, to be extracted at the container's root."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()

        def parents(dest: str) -> None:
            parts = dest.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                directory = "/".join(parts[:i])
                if directory not in made:
                    made.add(directory)
                    tar.addfile(_info(directory, tarfile.DIRTYPE, 0o755))

        for item in items:
            parents(item.dest)
            name = item.dest.strip("/")
            if item.data is not None:
                info = _info(name, tarfile.REGTYPE, item.mode or 0o644, len(item.data))
                tar.addfile(info, io.BytesIO(item.data))
            else:
                assert item.source is not None
                st = item.source.stat()
                info = _info(name, tarfile.REGTYPE, item.mode or stat.S_IMODE(st.st_mode), st.st_size)
                with item.source.open("rb") as fh:
                    tar.addfile(info, fh)
        for directory, dest in trees:
            parents(dest.rstrip("/") + "/x")
            top = dest.strip("/")
            if top not in made:
                made.add(top)
                tar.addfile(_info(top, tarfile.DIRTYPE, 0o755))
            for path in walk(directory):
                relative = path.relative_to(directory).as_posix()
                if relative in leave_out:
                    continue
                name = posixpath.join(top, relative)
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    info = _info(name, tarfile.SYMTYPE, 0o777)
                    info.linkname = os.readlink(path)
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    tar.addfile(_info(name, tarfile.DIRTYPE, tree_mode(st.st_mode)))
                elif stat.S_ISREG(st.st_mode):
                    with path.open("rb") as fh:
                        tar.addfile(_info(name, tarfile.REGTYPE, tree_mode(st.st_mode), st.st_size), fh)

    # End the archive at its two end-of-archive blocks, without tarfile's padding to a 10 KiB
    # record: an engine's reader stops at those blocks, and bytes after them made `podman cp -`
    # fail ("io: read/write on closed pipe") when they were still being written to it.
    os.truncate(out, tar.offset)


def tree_mode(st_mode: int) -> int:
    """The mode a directory tree's entry has in an archive: 0755 for a directory or a file with
    any executable bit, 0644 for another file (what git records of a file's mode)."""
    return 0o755 if stat.S_ISDIR(st_mode) or st_mode & 0o111 else 0o644


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0  # what goes in is content, not a time: equal inputs make equal archives
    return info


def walk(directory: Path) -> Iterator[Path]:
    """Every entry under ``directory``, symlinks not followed, in a stable order."""
    for top, dirs, files in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            yield Path(top) / name


def extract_file(archive: Path, name: str, dest: Path) -> None:
    """The regular file ``name`` (the base name `cp CONTAINER:PATH -` gives it) from ``archive``
    into ``dest``. Anything else (a link, a device, a path with '/') is refused."""
    with tarfile.open(archive, "r:") as tar:
        member = next((m for m in tar.getmembers() if m.name == name), None)
        if member is None or not member.isreg() or "/" in member.name:
            raise PkgrunError(
                f"the container did not give back the file {name}",
                hint="the build did not make it, or made something else than a file at its path",
            )
        source = tar.extractfile(member)
        assert source is not None
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with source, tmp.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
