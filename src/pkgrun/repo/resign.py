"""Signing what is already in a repository (``repo sign``, and the first signed publish with a key):
only what pkgrun can account for, and as a publish.

What may be signed: a package whose content (main header and payload) is what pkgrun's record
says it published. One that already carries a signature rpm verifies with the key needs nothing.
Anything else (a package pkgrun has no record of, an adopted one, one whose content changed)
refuses the whole signing before any package is touched.

How: signed copies are written beside the packages, in ``<arch>/resigned/``, and the metadata is
switched to them; then each copy takes its package's own name and the metadata is switched back
(repo.py's publish does that second half for every publish). At every instant the live metadata
lists files whose bytes it describes, whatever kills the run.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pkgrun.errors import PkgrunError
from pkgrun.repo.files import copy_aside, read_regular, rename_into_place, temporary_name
from pkgrun.repo.ledger import RESIGNED, Ledger, Record, Refused, file_sha256
from pkgrun.rpm.header import UnsafeRpm, content_digest
from pkgrun.trust.signing import SigningKey, sign_rpms, signed_by, verified

# Packages signed by one rpmsign: their private copies are what a signing holds in the temporary
# directory at once (often a small tmpfs), and the time between a directory's check and the write
SIGN_BATCH = 64


class Unaccounted(PkgrunError):
    """The repository lists packages pkgrun cannot account for: nothing is written or signed."""


@dataclass(frozen=True)
class ToSign:
    arch_dir: Path
    href: str
    record: Record

    @property
    def path(self) -> Path:
        return self.arch_dir / self.href


def plan_signing(
    state: Mapping[Path, Mapping[str, Record]], key: SigningKey, skip: set[Path]
) -> tuple[list[ToSign], list[Refused]]:
    """What signing every package of ``state`` with ``key`` takes (``skip``: the files this
    publish places itself, signed): the packages to sign, and the ones refused with why."""
    packages = [
        ToSign(arch_dir, href, record)
        for arch_dir, records in sorted(state.items())
        for href, record in sorted(records.items())
        if arch_dir / href not in skip
    ]
    # rpm and pkgrun read only regular files there: a FIFO would never answer, a device never
    # end, a symlink lead out of the repository
    special = {p.path for p in packages if not _regular(p.path)}
    refused = [
        Refused(path, "it is not a regular file (pkgrun writes only those)") for path in sorted(special)
    ]
    packages = [p for p in packages if p.path not in special]
    claims = signed_by([p.path for p in packages])
    good = verified(key, [p.path for p in packages if key.made(claims.get(p.path))])
    todo: list[ToSign] = []
    for package in packages:
        if package.path in good:
            continue
        why = _why_not(package)
        if why:
            refused.append(Refused(package.path, why))
        else:
            todo.append(package)
    return todo, refused


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _why_not(package: ToSign) -> str | None:
    """Why pkgrun may not sign ``package``; None when its content is what pkgrun published."""
    record = package.record
    if record.adopted or record.content is None:
        return (
            "it is not signed with this key, and pkgrun has no record of its content (it was in "
            "the repository before pkgrun recorded what it publishes)"
        )
    try:
        content = content_digest(package.path)
    except (OSError, UnsafeRpm) as exc:
        return f"it cannot be read as an RPM ({exc})"
    if content != record.content:
        return f"its content (sha256 {content[:16]}…) is not what pkgrun published ({record.content[:16]}…)"
    return None


def refusal(refused: list[Refused], dist_dir: Path, target: str) -> Unaccounted:
    lines = "\n".join(f"  {r.path}: {r.why}" for r in refused)
    return Unaccounted(
        f"{dist_dir} holds {len(refused)} package(s) pkgrun cannot account for; nothing was "
        f"written or signed:\n{lines}",
        hint="if you put a package there and trust it, publish it by name (pkgrun publish --target "
        f"{target} FILE...); otherwise remove it: pkgrun writes the next metadata from its own "
        "record of what it published",
    )


def sign_aside(
    ledger: Ledger, state: dict[Path, dict[str, Record]], todo: list[ToSign], key: SigningKey
) -> None:
    """A signed copy of each package in ``<arch>/resigned/``, in ``state`` and pending in the
    ledger in place of the package (which the live metadata lists until the switch). One rpmsign
    for each SIGN_BATCH of them; a noarch package's copies in other architectures' directories
    are copies of its first one, signed once."""
    firsts: dict[tuple[str, str | None], ToSign] = {}
    again: list[ToSign] = []
    for package in todo:
        waiting = package.arch_dir / RESIGNED
        if waiting.is_symlink():
            raise PkgrunError(
                f"{waiting} is a symlink; pkgrun does not write through links in the repository",
                hint="remove the link; it was not made by pkgrun",
            )
        waiting.mkdir(exist_ok=True)
        seen = (Path(package.href).name, package.record.content)
        if seen in firsts:
            again.append(package)
        else:
            firsts[seen] = package
    unique = list(firsts.values())
    for start in range(0, len(unique), SIGN_BATCH):
        batch = unique[start : start + SIGN_BATCH]
        copies = [Copy(p.path, _waiting(p), p.record.content, follow=False) for p in batch]
        for package, prepared in zip(batch, prepared_copies(copies, key), strict=True):
            _set_aside(ledger, state, package, prepared)
    for package in again:
        first = firsts[(Path(package.href).name, package.record.content)]
        copy = Copy(_waiting(first), _waiting(package), package.record.content, follow=False)
        _set_aside(ledger, state, package, prepared_copies([copy], None)[0])


def _waiting(package: ToSign) -> Path:
    return package.arch_dir / RESIGNED / Path(package.href).name


def _set_aside(
    ledger: Ledger, state: dict[Path, dict[str, Record]], package: ToSign, prepared: Prepared
) -> None:
    tmp, sha256, _ = prepared
    record = replace(package.record, sha256=sha256)
    rename_into_place(tmp, _waiting(package))
    href = f"{RESIGNED}/{_waiting(package).name}"
    ledger.add(package.arch_dir.name, href, record)
    del state[package.arch_dir][package.href]
    state[package.arch_dir][href] = record


@dataclass(frozen=True)
class Copy:
    """A package to copy to ``dest``. ``content``: the content digest it must have (one
    re-signed); another is refused. ``follow=False`` for a file inside the repository: a symlink
    there is refused."""

    source: Path
    dest: Path
    content: str | None = None
    follow: bool = True


Prepared = tuple[Path, str, str]  # the copy under dest's temporary name, its sha256, its content digest


def prepared_copies(copies: Sequence[Copy], key: SigningKey | None) -> list[Prepared]:
    """Each package (signed with ``key``, one rpmsign for them all) under its ``dest``'s
    temporary name, for rename_into_place; its sha256 and content digest. Checked, signed and
    measured in a private directory first: no one who can write the repository can change a
    file between the check, the signature and the record (nor rpmsign's own temporary file). A
    FIFO or a device is always refused, and no more is copied than a file's size when it was
    opened."""
    with tempfile.TemporaryDirectory(prefix="pkgrun-publish-") as private:
        mine = [_private_copy(copy, Path(private) / str(i)) for i, copy in enumerate(copies)]
        if key is not None and mine:
            sign_rpms(key, [path for path, _ in mine])
        return [
            (copy_aside(path, _not_linked(copy.dest)), file_sha256(path), made)
            for copy, (path, made) in zip(copies, mine, strict=True)
        ]


def _not_linked(dest: Path) -> Path:
    """``dest``, checked again just before it is written: its directory is no symlink (someone
    who can write the repository could swap one in while the batch was being signed)."""
    if dest.parent.is_symlink():
        raise PkgrunError(
            f"{dest.parent} is a symlink; pkgrun does not write through links in the repository",
            hint="remove the link; it was not made by pkgrun",
        )
    return dest


def prepared_copy(
    source: Path, dest: Path, key: SigningKey | None, content: str | None = None, follow: bool = True
) -> Prepared:
    """One package, as :func:`prepared_copies` makes them."""
    return prepared_copies([Copy(source, dest, content, follow)], key)[0]


def _private_copy(copy: Copy, directory: Path) -> tuple[Path, str]:
    directory.mkdir()
    mine = directory / copy.dest.name
    with read_regular(copy.source, copy.follow) as src, mine.open("xb") as dst:
        left = os.fstat(src.fileno()).st_size
        while left > 0 and (chunk := src.read(min(left, 1 << 20))):
            dst.write(chunk)
            left -= len(chunk)
    try:
        made = content_digest(mine)
    except UnsafeRpm as exc:
        raise PkgrunError(f"{copy.source} cannot be read as an RPM: {exc}") from None
    if copy.content is not None and made != copy.content:
        raise Unaccounted(
            f"{copy.source} changed while pkgrun was signing it: its content is not what pkgrun "
            "published; nothing was switched",
            hint="someone else writes into the repository: find out who before publishing again",
        )
    return mine, made


def settle(ledger: Ledger, arch_dir: Path, records: dict[str, Record]) -> None:
    """Give every signed copy waiting in ``resigned/`` its package's own name (the live metadata
    lists the copy, not that name), in ``records`` and pending in the ledger."""
    for href in sorted(h for h in records if h.startswith(RESIGNED + "/")):
        name = href.removeprefix(RESIGNED + "/")
        tmp = temporary_name(arch_dir / name)
        tmp.unlink(missing_ok=True)
        os.link(arch_dir / href, tmp)  # the copy stays until no metadata lists it
        rename_into_place(tmp, arch_dir / name)
        records[name] = records.pop(href)
        ledger.add(arch_dir.name, name, records[name])


def remove_waiting(arch_dir: Path, listed: set[str]) -> None:
    """The signed copies no metadata lists any more."""
    waiting = arch_dir / RESIGNED
    if waiting.is_dir() and not waiting.is_symlink():
        for path in waiting.iterdir():
            if f"{RESIGNED}/{path.name}" not in listed and not path.is_symlink():
                path.unlink()
        if not any(waiting.iterdir()):
            waiting.rmdir()
