"""A package's copies: its SBOM beside each, and every noarch package in every architecture's
repository (as Fedora and EPEL publish noarch), copied from the file pkgrun's record vouches for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pkgrun.repo.files import copy_into_place, rename_into_place, write_atomically
from pkgrun.repo.layout import inside
from pkgrun.repo.ledger import RESIGNED, Ledger, Record, href_allowed
from pkgrun.repo.resign import Unaccounted, prepared_copy
from pkgrun.rpm.header import content_digest
from pkgrun.targets import Target
from pkgrun.trust.file_facts import file_facts
from pkgrun.trust.sbom import SUFFIX as SBOM_SUFFIX
from pkgrun.trust.sbom import describes, make_sbom

State = dict[Path, dict[str, Record]]  # architecture directory -> path inside it -> record


def spread_noarch(dist_dir: Path, target: Target, ledger: Ledger, state: State) -> list[str]:
    """Every architecture's repository made, and holding every noarch package one of them holds
    (published before the other was made, or by a pkgrun that kept noarch in one): a copy of the
    published file, checked against pkgrun's record of it, with its SBOM. What to warn of: a
    noarch package whose copies differ (a --force replacement killed between two switches)."""
    for arch in target.arches:
        arch_dir = inside(dist_dir, dist_dir / arch, f"the {arch} repository")
        arch_dir.mkdir(exist_ok=True)
        state.setdefault(arch_dir, {})
    for copy in noarch_copies(dist_dir, target, state):
        tmp, sha256, _ = prepared_copy(copy.source, copy.dest, None, copy.record.content, follow=False)
        if sha256 != copy.record.sha256:
            tmp.unlink()
            raise Unaccounted(
                f"{copy.source} is not the file pkgrun published (sha256 {sha256[:16]}…, "
                f"recorded {copy.record.sha256[:16]}…); nothing was switched",
                hint="someone else writes into the repository: find out who before publishing again",
            )
        rename_into_place(tmp, copy.dest)
        copy_sbom(copy.source, copy.dest, target.dist)
        ledger.add(copy.dest.parent.name, copy.dest.name, copy.record)
        state[copy.dest.parent][copy.dest.name] = copy.record
    contents: dict[str, set[str | None]] = {}
    for records in state.values():
        for href, record in records.items():
            if record.arch == "noarch" and href_allowed(href) and "/" not in href:
                contents.setdefault(href, set()).add(record.content)
    return [
        f"{href} differs between the architectures' repositories (a replacement with --force "
        "was stopped part way): publish it again with --force to make every copy the same"
        for href, seen in sorted(contents.items())
        if len(seen) > 1
    ]


@dataclass(frozen=True)
class Copy:
    """A noarch package to be copied from the repository of one architecture into another's."""

    source: Path
    dest: Path
    record: Record


def noarch_copies(dist_dir: Path, target: Target, state: State) -> list[Copy]:
    """The copies spread_noarch makes: each noarch package, from the first architecture's
    repository that holds it, into each of the target's that does not (made or to be made);
    what `repo sign --dry-run` lists too (pure, but for the paths it names)."""
    arch_dirs = sorted({*state, *(dist_dir / arch for arch in target.arches)})
    held: dict[str, tuple[Path, Record]] = {}
    for arch_dir in arch_dirs:
        for href, record in state.get(arch_dir, {}).items():
            if record.arch == "noarch" and href_allowed(href) and "/" not in href:
                held.setdefault(href, (arch_dir, record))
    out = []
    for href, (source, record) in sorted(held.items()):
        for arch_dir in arch_dirs:
            records = state.get(arch_dir, {})
            if href in records or f"{RESIGNED}/{href}" in records or arch_dir.name == "noarch":
                continue
            out.append(Copy(source / href, arch_dir / href, record))
    return out


def sbom_path(rpm: Path) -> Path:
    return rpm.with_name(rpm.name.removesuffix(".rpm") + SBOM_SUFFIX)


def copy_sbom(rpm: Path, dest: Path, dist: str) -> None:
    """The SBOM beside ``rpm`` beside its published copy; for a package pkgrun did not build, one
    made from the RPM itself: every published package has one."""
    sbom = rpm.with_name(rpm.name.removesuffix(".rpm") + SBOM_SUFFIX)
    published = dest.with_name(dest.name.removesuffix(".rpm") + SBOM_SUFFIX)
    beside = sbom.read_text() if sbom.is_file() and not sbom.is_symlink() else ""
    if describes(beside, content_digest(rpm)):
        copy_into_place(sbom, published)
    else:  # none, or one about another package: what the RPM says
        write_atomically(published, make_sbom(file_facts(rpm, dist)))
