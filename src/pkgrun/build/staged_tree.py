"""The staged tree as this machine holds it, and a package from a build host checked against it.

A package comes back from a container: from the engine of a build host, or from this machine's
own, where the build script ran as root and may have left a process behind. Whatever the engine
says (its listing of the staging directory is the container's word too), a package is signed
only when its header lists exactly what this machine holds: the tree the compile left, as an
archive on this machine (the kept compile, or the compile brought back here right after the
build script), plus what staging adds from the recipe on this machine ([files.add] at 0644,
[files.directories] at 0755). Every file the header lists must be in that tree with its type,
mode and owner (root), a file with the same digest, a link with the same target; every file
and link of the tree under [files] paths must be in the package.
"""

from __future__ import annotations

import hashlib
import posixpath
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pkgrun.build.plan import BuildPlan
from pkgrun.build.staging import shown
from pkgrun.errors import PkgrunError
from pkgrun.rpm.header import HeaderFile, header_files

_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "link"}


class PackageRefused(PkgrunError):
    """A package that holds what the staged tree on this machine does not."""


@dataclass(frozen=True)
class Node:
    kind: str  # file, directory, link, or what else a tar member is
    mode: int  # permission bits
    digest: str = ""  # a file's content
    link: str = ""  # a link's target


def tree_of(archive: Path, algorithm: str) -> dict[str, Node]:
    """The staging directory in ``archive`` (tar -C DESTDIR .), by installed path, each file's
    content digested with ``algorithm`` (hashlib's name)."""
    tree: dict[str, Node] = {}
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            path = "/" + posixpath.normpath(member.name).lstrip("/")
            if path in ("/", "/."):
                continue
            mode = member.mode & 0o7777
            if member.isreg():
                source = tar.extractfile(member)
                assert source is not None
                tree[path] = Node("file", mode, _digest(source, algorithm))
            elif member.islnk():  # a hard link: the content of the file it names
                first = tree.get("/" + posixpath.normpath(member.linkname).lstrip("/"))
                tree[path] = Node("file", mode, first.digest if first else "")
            elif member.issym():
                tree[path] = Node("link", mode, link=member.linkname)
            elif member.isdir():
                tree[path] = Node("directory", mode)
            else:
                tree[path] = Node(f"special file (tar type {member.type!r})", mode)
    return tree


def staged(tree: Mapping[str, Node], plan: BuildPlan, algorithm: str) -> dict[str, Node]:
    """``tree`` as the stage step leaves it (container_commands.stage_argv, umask 022): the [files.add] files
    installed from this machine's recipe directory at 0644, the [files.directories] made."""
    out = dict(tree)
    files = plan.loaded.recipe.files

    def parents(path: str) -> None:
        for i in range(2, path.count("/") + 1):
            out.setdefault("/".join(path.split("/")[:i]), Node("directory", 0o755))

    for dest, source in files.add.items():
        parents(dest)
        with (plan.loaded.directory / source).open("rb") as fh:
            out[dest] = Node("file", 0o644, _digest(fh, algorithm))
    for directory in files.directories:
        if not any(c in directory for c in "*?["):
            parents(directory + "/x")
    return out


def check_package(rpm: Path, plan: BuildPlan, archive: Path, where: str) -> None:
    """Refuse ``rpm`` (built on ``where``) unless its header lists the staged tree: that of
    ``archive`` (the compile, on this machine) as the stage step leaves it."""
    listed, algorithm = header_files(rpm)
    try:
        tree = staged(tree_of(archive, algorithm), plan, algorithm)
    except (OSError, tarfile.TarError) as exc:
        raise PkgrunError(
            f"the staged tree of {plan.name} cannot be read on this machine: {exc}",
            hint="build it again; nothing was signed or published",
        ) from None
    problems = differences(listed, tree, plan)
    if problems:
        more = f"; and {len(problems) - 8} more" if len(problems) > 8 else ""
        raise PackageRefused(
            f"{rpm.name} from {where} is not what was staged: {'; '.join(problems[:8])}{more}",
            hint="the package was changed after staging (by its packager or the build host, or a process "
            "the build script left running); nothing was signed or published. Build it again, and look "
            "at the build host if it happens again",
        )


def differences(listed: list[HeaderFile], tree: Mapping[str, Node], plan: BuildPlan) -> list[str]:
    """What the package's file list has that the staged tree does not, or lacks, path by path."""
    problems = []
    for file in listed:
        node, kind, name = (
            tree.get(file.path),
            _KINDS.get(stat.S_IFMT(file.mode), "special file"),
            shown(file.path),
        )
        if node is None:
            problems.append(f"{name}: not in the staged tree")
        elif kind != node.kind:
            problems.append(f"{name}: a {kind} in the package, a {node.kind} in the staged tree")
        elif kind == "file" and file.digest != node.digest:
            problems.append(f"{name}: its content differs from the staged file's")
        elif kind == "link" and file.link != node.link:
            problems.append(f"{name}: links to {shown(file.link)}, staged to {shown(node.link)}")
        elif kind != "link" and stat.S_IMODE(file.mode) != node.mode:
            problems.append(f"{name}: mode {stat.S_IMODE(file.mode):04o}, staged {node.mode:04o}")
        if (file.user, file.group) != ("root", "root"):
            problems.append(f"{name}: owned by {shown(file.user)}:{shown(file.group)}, staged for root:root")
    tops = ["/" + posixpath.normpath(path) for path in plan.loaded.recipe.files.paths]
    packaged = {file.path for file in listed}
    missing = [
        shown(path)
        for path, node in sorted(tree.items())
        if node.kind in ("file", "link")
        and path not in packaged
        and any(path == top or path.startswith(top + "/") for top in tops)
    ]
    if missing:
        problems.append(f"staged, not in the package: {', '.join(missing[:5])}")
    return problems


def _digest(source: IO[bytes], algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()
