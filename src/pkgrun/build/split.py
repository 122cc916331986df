"""One staging tree, several packages: which package of a set each staged path goes to (pure).

The set is the main package and its parts (a recipe's subpackages, ``-debuginfo``). A part names
its paths with patterns, as rpmbuild's ``%files`` of a ``%package`` does: a pattern matches a
path with shell rules (``*`` also crosses ``/``), and a directory it matches brings everything
under it. The main package keeps what no part claims. A path two parts claim, and an explicit
pattern that matches nothing the build staged, are the recipe's mistakes, named with its file
and field; a preset's patterns (the conventions of a ``-devel``) need only match something
between them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from pkgrun.build.staging import Entry, NotStaged, nearest, shown

# What rpmbuild's packagers and melange's split/dev move into -devel: headers, pkg-config and
# CMake files, static libraries, the unversioned .so link a linker needs (the versioned library
# stays in the main package, which programs require by soname), *-config scripts, m4 macros.
DEVEL_PATTERNS = (
    "*/include",
    "*/lib*/pkgconfig/*.pc",
    "*/share/pkgconfig/*.pc",
    "*/lib*/cmake",
    "*/lib*/*.a",
    "*/lib*/*.la",
    "*/share/aclocal",
    "*/bin/*-config",
)
DEVEL_LINKS = ("*/lib*/*.so",)  # a symlink only: a plugin's .so file is no link and stays


@dataclass(frozen=True)
class Part:
    """A package of the set besides the main one. ``field``: where the recipe says it, for
    messages (``subpackages.devel.files``); ``preset``: the patterns are a convention's, not the
    recipe's own, and need only match something between them."""

    name: str
    field: str
    patterns: tuple[str, ...]
    links: tuple[str, ...] = ()  # patterns that claim symlinks only
    preset: bool = False


def matches(pattern: str, path: str) -> bool:
    """Whether ``pattern`` claims ``path``: the path itself, or a directory it is in."""
    while path not in ("", "/"):
        if fnmatch.fnmatchcase(path, pattern):
            return True
        path = path.rsplit("/", 1)[0]
    return False


def split(main: str, parts: Sequence[Part], entries: Sequence[Entry], recipe: str) -> dict[str, list[Entry]]:
    """Each package's entries, in the listing's order: the main package first, then each part.
    A directory a part's pattern matches is listed with the part; which package owns a
    directory (``%dir``) is what the recipe's directories fields say, not this listing."""
    claims: dict[str, list[tuple[str, str]]] = {}  # path -> [(part, "field[i]")]
    used: dict[str, set[int]] = {part.name: set() for part in parts}
    for part in parts:
        every = (*part.patterns, *part.links)
        for entry in entries:
            hit = [
                i
                for i, pattern in enumerate(every)
                if (i < len(part.patterns) or entry.kind == "l") and matches(pattern, entry.path)
            ]
            if hit:
                used[part.name].update(hit)
                claims.setdefault(entry.path, []).append((part.name, f"{part.field}[{hit[0]}]"))
    _check_claims(claims, recipe)
    _check_used(parts, used, entries, recipe)
    out: dict[str, list[Entry]] = {main: [], **{part.name: [] for part in parts}}
    for entry in entries:
        owner = claims.get(entry.path, [(main, "")])[0][0]
        out[owner].append(entry)
    return out


def _check_claims(claims: dict[str, list[tuple[str, str]]], recipe: str) -> None:
    twice = {path: by for path, by in claims.items() if len({name for name, _ in by}) > 1}
    if twice:
        path, by = min(twice.items())
        raise NotStaged(
            f"{recipe}: {by[0][1]} and {by[1][1]} both claim {shown(path)}"
            + (f" (and {len(twice) - 1} more path(s))" if len(twice) > 1 else ""),
            hint="a path goes to one package: narrow one of the patterns (the packages were not made)",
        )


def _check_used(
    parts: Sequence[Part], used: dict[str, set[int]], entries: Sequence[Entry], recipe: str
) -> None:
    staged = [entry.path for entry in entries]
    for part in parts:
        every = (*part.patterns, *part.links)
        if part.preset:
            if not used[part.name]:
                raise NotStaged(
                    f"{recipe}: {part.field}: none of {part.name}'s usual paths "
                    f"({', '.join(every)}) is among what the build staged",
                    hint=f"name {part.name}'s paths in {part.field} (the packages were not made)",
                )
            continue
        for i, pattern in enumerate(every):
            if i not in used[part.name]:
                raise NotStaged(
                    f"{recipe}: {part.field}[{i}]: {shown(pattern)} matches nothing the build staged"
                    + nearest(pattern, staged),
                    hint="fix the pattern in the recipe (the packages were not made); "
                    "PKGRUN_KEEP_CONTAINER=1 keeps the build's container to look at the staging directory",
                )
