"""A package's ELF files stripped into its -debuginfo, as rpmbuild does it (pure commands and
their outputs read back; issue 22's step, not wired into the build yet).

rpm's own find-debuginfo (debugedit's, or rpm-build's script on el7/el8) strips every ELF file of
the staging tree, writes its debug sections to ``/usr/lib/debug/<path>.debug`` and copies the
sources they name under ``/usr/src/debug``. The build ids are recomputed with the package's
version and release as seed where the tool can (two releases of the same bytes do not share
ids, as rpmbuild's ``_unique_build_ids`` has it), so the same build makes the same ids. The
``.build-id`` links a debugger finds the ``.debug`` file by are rpmbuild's (from rpm 4.14 on, its
own file processing makes them, in the layout el's ``%_build_id_links compat`` has): pkgrun
makes the same ones, in the main package and in the -debuginfo.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pkgrun.targets import Target

DEBUG_DIR = "/usr/lib/debug"
SOURCE_DIR = "/usr/src/debug"
BUILD_ID_DIR = "/usr/lib/.build-id"  # the main package's links to its ELF files
DEBUG_LISTS = ("debugfiles.list", "debugsources.list")  # written in the build directory


def find_debuginfo_argv(target: Target, version: str, release: str, builddir: str) -> list[str]:
    """find-debuginfo over the staging tree (``RPM_BUILD_ROOT``), the sources under ``builddir``.
    ``--strict-build-id``: an ELF file without a build id fails the build, as Fedora's
    ``_missing_build_ids_terminate_build``."""
    tool = target.debuginfo
    argv = [tool.path, "--strict-build-id"]
    if tool.seeds:
        argv += ["--build-id-seed", f"{version}-{release}", "-S", DEBUG_LISTS[1]]
    return [*argv, "-o", DEBUG_LISTS[0], builddir]


def find_debuginfo_env(
    name: str, version: str, release: str, arch: str, buildroot: str, builddir: str
) -> dict[str, str]:
    """What rpmbuild's environment tells find-debuginfo (it refuses to run without it)."""
    return {
        "RPM_BUILD_ROOT": buildroot,
        "RPM_BUILD_DIR": builddir,
        "RPM_PACKAGE_NAME": name,
        "RPM_PACKAGE_VERSION": version,
        "RPM_PACKAGE_RELEASE": release,
        "RPM_ARCH": arch,
    }


_FILE = re.compile(r"^File: (?P<path>.+)$")
_BUILD_ID = re.compile(r"\bBuild ID: (?P<id>[0-9a-f]+)\s*$")


def parse_build_ids(readelf_notes: str, buildroot: str, files: Sequence[str]) -> dict[str, str]:
    """``readelf --notes --wide FILE...`` -> each file's path as installed -> its build id.
    readelf heads each file's notes with a ``File:`` line when it reads more than one."""
    ids: dict[str, str] = {}
    current = files[0] if len(files) == 1 else None
    for line in readelf_notes.splitlines():
        if match := _FILE.match(line):
            current = match["path"]
        elif (match := _BUILD_ID.search(line)) and current is not None:
            ids["/" + posixpath.relpath(current, buildroot)] = match["id"]
    return ids


@dataclass(frozen=True)
class Link:
    path: str  # as installed
    target: str  # relative, as rpmbuild makes them


def build_id_links(build_ids: Mapping[str, str]) -> tuple[list[Link], list[Link]]:
    """The links rpmbuild makes for each ELF file (installed path -> build id), as its compat
    layout has them: in the main package ``/usr/lib/.build-id/NN/REST`` to the file; in the
    -debuginfo ``/usr/lib/debug/.build-id/NN/REST.debug`` to its ``.debug`` file and
    ``/usr/lib/debug/.build-id/NN/REST`` to the main package's link (rpm's build/files.c,
    generateBuildIDs) (pure)."""
    main, debug = [], []
    for path, build_id in sorted(build_ids.items()):
        head, rest = build_id[:2], build_id[2:]
        # the targets as rpmbuild writes them: up to / and down again
        main.append(Link(f"{BUILD_ID_DIR}/{head}/{rest}", f"../../../..{path}"))
        in_debug = f"{DEBUG_DIR}/.build-id/{head}/{rest}"
        debug.append(Link(f"{in_debug}.debug", f"../../../../..{DEBUG_DIR}{path}.debug"))
        debug.append(Link(in_debug, f"../../../.build-id/{head}/{rest}"))
    return main, debug
