"""What the build left in the staging directory, as listed by find inside the container, and the
package contents that follow from it and the recipe (pure)."""

from __future__ import annotations

import difflib
import fnmatch
import json
import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pkgrun.errors import PkgrunError

# find prints, for each path: type, octal mode, path, symlink target, each ended by NUL, so that
# no file name can break the listing.
FIND_FORMAT = "%y\\0%m\\0%p\\0%l\\0"


@dataclass(frozen=True)
class Entry:
    kind: str  # "f" file, "d" directory, "l" symlink
    mode: int
    path: str  # absolute, as installed: /usr/local/nginx/sbin/nginx
    link: str = ""


def find_argv(staging: str, paths: Sequence[str]) -> list[str]:
    """List ``paths`` (relative to ``staging``) with find; run with ``staging`` as working dir."""
    return ["find", *paths, "-printf", FIND_FORMAT]


def parse_listing(output: str) -> list[Entry]:
    fields = output.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % 4:
        raise PkgrunError("unexpected output from find while listing the staging directory")
    entries = []
    for i in range(0, len(fields), 4):
        kind, mode, path, link = fields[i : i + 4]
        entries.append(Entry(kind, int(mode, 8), "/" + posixpath.normpath(path), link))
    # find lists in the file system's own order, which differs between two builds: sorted, the
    # package's file list is the same every time (and a directory comes before what it holds)
    return sorted(entries, key=lambda entry: entry.path)


def unsafe_names(entries: Sequence[Entry]) -> list[str]:
    """Staged paths no package should hold: control characters (a newline in a file name would
    end a line of fpm's spec file), or a name that is not UTF-8 (rpm's headers are)."""
    return [
        shown(entry.path)
        for entry in entries
        if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xDC80 <= ord(c) <= 0xDCFF for c in entry.path + entry.link)
    ]


def shown(path: str) -> str:
    """A path as plain ASCII: other bytes as \\xNN, so that no name can move a terminal's cursor."""
    text = path.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
    return "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in text)


class NotStaged(PkgrunError):
    """A [files] path or pattern of the recipe that the build did not stage."""


def expand_directories(
    patterns: Sequence[str], entries: Sequence[Entry], recipe: str = "recipe.toml"
) -> list[str]:
    """[files] directories, glob patterns matched against the staged directories."""
    dirs = [e.path for e in entries if e.kind == "d"]
    out: list[str] = []
    for i, pattern in enumerate(patterns):
        matches = [d for d in dirs if fnmatch.fnmatchcase(d, pattern)] if _is_glob(pattern) else [pattern]
        if not matches:
            raise NotStaged(
                f"{recipe}: files.directories[{i}]: {shown(pattern)} matches no directory the build staged"
                + nearest(pattern, dirs),
                hint="fix the pattern in the recipe (the package was not made); PKGRUN_KEEP_CONTAINER=1 "
                "keeps the build's container to look at the staging directory",
            )
        out += [m for m in matches if m not in out]
    return out


def check_config_files(config: Sequence[str], entries: Sequence[Entry], recipe: str = "recipe.toml") -> None:
    """Every [files] config path is a file, link or directory (every file in it) the build
    staged: refused at staging, with the staged paths nearest to it, not as a package that does
    not match its recipe."""
    staged = [e.path for e in entries]
    for i, path in enumerate(config):
        if path in staged:
            continue
        raise NotStaged(
            f"{recipe}: files.config[{i}]: {shown(path)} is not a path the build staged"
            + nearest(path, staged),
            hint="fix the path in the recipe's [files] config (the package was not made); a config "
            "file must be installed by the build script or added with [files.add]",
        )


def nearest(path: str, candidates: Sequence[str]) -> str:
    """The staged paths closest to ``path``, for a message."""
    close = difflib.get_close_matches(path, candidates, n=3, cutoff=0.5)
    if not close:  # the same name elsewhere
        name = posixpath.basename(path)
        close = [c for c in candidates if posixpath.basename(c) == name][:3]
    return f"; staged nearest to it: {', '.join(map(shown, close))}" if close else ""


def owned_directories(directories: Sequence[str], entries: Sequence[Entry]) -> list[str]:
    """Every directory under each owned one, itself included, as fpm's --directories does."""
    dirs = [e.path for e in entries if e.kind == "d"]
    owned = []
    for top in directories:
        owned += [d for d in dirs if (d == top or d.startswith(top + "/")) and d not in owned]
    return owned


def needed_directories(entries: Sequence[Entry], owned: Sequence[str], system: Collection[str]) -> list[str]:
    """The directories the staged paths are in (and the staged directories) that the package
    does not own and no system package does: each must exist where the package is installed, or
    rpm creates it and leaves it behind on removal (pure)."""
    needed = set()
    for entry in entries:
        path = entry.path if entry.kind == "d" else posixpath.dirname(entry.path)
        while path not in needed and path != "/":
            needed.add(path)
            path = posixpath.dirname(path)
    return sorted(needed - set(owned) - set(system))


def directories_line(present: Sequence[str], missing: Sequence[str]) -> str:
    """The recipe's [files] directories line with the topmost of ``missing`` added: owning a
    directory owns what it holds (pure)."""
    tops = [m for m in sorted(missing) if not any(m.startswith(other + "/") for other in missing)]
    return "directories = " + json.dumps([*present, *(t for t in tops if t not in present)])


class UnownedDirectories(NotStaged):
    """Directories the package's files need that nobody would own where it is installed."""

    def __init__(self, recipe: str, missing: Sequence[str], line: str, target: str) -> None:
        shown_missing = ", ".join(map(shown, missing[:8])) + (" ..." if len(missing) > 8 else "")
        one = len(missing) == 1
        super().__init__(
            f"{recipe}: files.directories: the package's files need {len(missing)} director"
            f"{'y' if one else 'ies'} that neither the package nor {target}'s system with the recipe's "
            f"requirements has ({shown_missing}): rpm would create {'it' if one else 'them'} and leave "
            f"{'it' if one else 'them'} behind on removal",
            hint=f"own them: in [files], `{line}` (the package was not made). A directory another "
            "package brings (a service's, a server's configuration directory): put that package in "
            "[requires] for this target, as a server needs it anyway",
        )


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
