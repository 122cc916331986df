"""Publishing RPMs into a yum repository that stays readable while it changes.

Layout: ``<repo>/<dist>/<basearch>/`` holds the RPMs and ``repodata/``; ``<repo>/<dist>/pkgrun.repo``
is the .repo file for it. Every architecture the distribution ships (Target.arches) has its
repository, and a noarch package is in each of them, as Fedora and EPEL publish noarch: one
published before another architecture's directory was made is copied into it by the next
publish (its record says what pkgrun published there).

Every publish holds the distribution's lock (fcntl) and works so that a publish killed at any
moment leaves the previous repository whole:
0. the live metadata is held against pkgrun's record of what it published (ledger.py): anything
   it lists that pkgrun cannot account for refuses the publish before anything changes, and so
   does a package that a signing key change would re-sign without being accountable (resign.py);
1. new RPMs are written to a temporary name and renamed into place (the old metadata does not
   list them, so readers do not see them yet);
2. the record takes the new state; packages re-signed wait in ``resigned/`` for one switch first;
3. createrepo_c writes the new metadata aside, reusing pkgrun's own copy of the metadata it wrote
   last, and it is checked against the record (metadata.py);
4. the new data files, whose names carry their checksums, join ``repodata/`` beside the old;
5. ``repomd.xml`` is replaced by a rename: readers see the old repository or the new one;
6. what neither the new nor the previous ``repomd.xml`` references is removed (pruned RPMs,
   old data files), so a reader holding the previous ``repomd.xml`` can still finish.
A publish killed after 2 is finished by the next one, which reconciles to the record.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgrun.errors import EXIT_BAD_INPUT, PkgrunError, UsageError
from pkgrun.repo.data import INDEX_FILE, read_index
from pkgrun.repo.files import (
    clean_stale,
    copy_into_place,
    rename_into_place,
    write_atomically,
)
from pkgrun.repo.layout import REPO_FILE, destinations, repo_file_text, repo_lock
from pkgrun.repo.ledger import RESIGNED, Ledger, Record, Refused, reconcile
from pkgrun.repo.metadata import SIGNATURE, is_current, update_metadata
from pkgrun.repo.resign import (
    ToSign,
    plan_signing,
    prepared_copy,
    refusal,
    remove_waiting,
    settle,
    sign_aside,
)
from pkgrun.repo.spread import State, copy_sbom, noarch_copies, sbom_path, spread_noarch
from pkgrun.report import Reporter
from pkgrun.rpm.evr import EVR
from pkgrun.rpm.header import RpmHeader, UnsafeRpm, content_digest, read_header
from pkgrun.run import find_tool
from pkgrun.targets import Target
from pkgrun.trust.sbom import SUFFIX as SBOM_SUFFIX
from pkgrun.trust.signing import KEY_FILE, SigningKey, public_key, verified


class NevraClash(PkgrunError):
    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Published:
    nevra: str
    path: Path
    action: str  # "added", "replaced", "unchanged"


@dataclass(frozen=True)
class PublishResult:
    published: list[Published]
    pruned: list[Path]
    seconds: float
    signed: list[Path] = field(default_factory=list)  # packages already there, signed now


def publish_rpms(
    rpms: Sequence[Path],
    repo_root: Path,
    target: Target,
    *,
    records: Path,
    reporter: Reporter,
    force: bool = False,
    keep: int | None = None,
    baseurl: str | None = None,
    index: Mapping[str, Mapping[str, Any]] | None = None,
    key: SigningKey | None = None,
) -> PublishResult:
    """Add ``rpms`` (and the SBOM beside each, when there is one) to the target's repository,
    keep the newest ``keep`` releases of each package, and update the metadata. ``records``:
    pkgrun's state directory, which holds the record of what it published (ledger.py).
    ``index``: entries to record in the build index. ``key``: every package placed is signed with
    it (if it is not yet), and so is repomd.xml; without one, the repository is unsigned."""
    started = time.monotonic()
    find_tool("createrepo_c", hint="createrepo_c comes with pkgrun's Python package: reinstall pkgrun")
    dist_dir = repo_root / target.dist
    headers = [(rpm, read_header(rpm)) for rpm in rpms]  # before the lock: reading takes time
    for _, header in headers:
        destinations(dist_dir, target, header)  # every header is safe before anything is written
    with repo_lock(dist_dir, reporter, "publish"):
        ledger = Ledger.load(records, dist_dir)
        state = _accounted(dist_dir, target, ledger, {h.sha256 for _, h in headers}, reporter)
        if key is None and (ledger.signed_with or _is_signed(dist_dir)) and not force:
            raise UsageError(
                f"{dist_dir} is signed: its servers check signatures and would refuse unsigned packages",
                hint="nothing was written; publish signed packages (drop --unsigned), or pass --force to "
                "make the whole repository unsigned (gpgcheck=0)",
            )
        placements = _placements(headers, dist_dir, target, state, force)
        todo: list[ToSign] = []
        if key is not None and ledger.signed_with != key.fingerprint:
            # the .repo file will ask for this key's signature on everything: everything gets it
            todo, refused = plan_signing(state, key, skip={dest for _, dest, *_ in placements})
            if refused:
                raise refusal(refused, dist_dir, target.dist)
        first: dict[Path, tuple[Path, Path]] = {}  # each RPM's first copy (file, name): the others copy it
        placed = [_place(p, ledger, state, key, target.dist, first) for p in placements]
        for warning in spread_noarch(dist_dir, target, ledger, state):
            reporter.note("publish", warning)
        if key is not None:  # a package published again by name, and not signed with the key yet
            again = [
                ToSign(d.parent, d.name, state[d.parent][d.name]) for _, d, _, _, same in placements if same
            ]
            good = verified(key, [item.path for item in again])
            todo += [item for item in again if item.path not in good]
        pruned: list[Path] = []
        doomed = {
            arch_dir: _beyond_retention(
                packages, keep, {p.path.name for p in placed if p.path.parent == arch_dir}
            )
            for arch_dir, packages in state.items()
            if keep
        }
        # a noarch release one architecture's retention drops goes from every one: the same set
        gone_noarch = {name for names in doomed.values() for name in names if name.endswith(".noarch.rpm")}
        for arch_dir, packages in sorted(state.items()):
            for name in sorted(doomed.get(arch_dir, set()) | (gone_noarch & set(packages))):
                del packages[name]
                pruned.append(arch_dir / name)
        _switch(dist_dir, target, ledger, state, todo, key)
        _finish(dist_dir, target, baseurl or repo_root.resolve().as_uri(), key)
        if index:
            record_index(dist_dir, index)
    published = list({p.nevra: p for p in reversed(placed)}.values())[::-1]  # each once: its first copy
    return PublishResult(published, pruned, time.monotonic() - started, [t.arch_dir / t.href for t in todo])


Placement = tuple[Path, Path, RpmHeader, "Record | None", bool]  # rpm, dest, header, old, same


def _placements(
    headers: Sequence[tuple[Path, RpmHeader]],
    dist_dir: Path,
    target: Target,
    state: State,
    force: bool,
) -> list[Placement]:
    """Where each package goes, and whether the repository holds it already; every clash is
    refused before anything changes."""
    placements: list[Placement] = []
    for rpm, header in headers:
        content = content_digest(rpm)
        for dest in destinations(dist_dir, target, header, state):
            dest.parent.mkdir(parents=True, exist_ok=True)
            clean_stale(dest.parent)
            old = state.setdefault(dest.parent, {}).get(dest.name)
            # the same package whatever its signature: the main header and the payload
            same = old is not None and (old.content or content_digest(dest)) == content
            if old is not None and not same and not force:
                raise NevraClash(
                    f"{header.nevra} is already published as a different file ({dest})",
                    hint="a published version never changes: raise the iteration (--iteration) and "
                    "build again, or pass --force to replace it",
                )
            placements.append((rpm, dest, header, old, same))
    return placements


def _place(
    placement: Placement,
    ledger: Ledger,
    state: State,
    key: SigningKey | None,
    dist: str,
    first: dict[Path, tuple[Path, Path]],
) -> Published:
    """One package into place (signed there with ``key``), with its SBOM, and in the record. One
    that replaces a listed file of other bytes (--force) waits in ``resigned/`` for the switch.
    A noarch package's copies after its ``first`` are copies of that one: signed once, the same
    bytes in every architecture's repository."""
    rpm, dest, header, old, same = placement
    arch_dir = dest.parent
    if same and old is not None:  # published again by name: vouched for, whatever its record said
        record = Record.from_header(header, old.sha256, content_digest(rpm))
        state[arch_dir][dest.name] = record
        ledger.add(arch_dir.name, dest.name, record)
        return Published(header.nevra, dest, "unchanged")
    href = dest.name if old is None else f"{RESIGNED}/{dest.name}"
    (arch_dir / href).parent.mkdir(exist_ok=True)
    if rpm in first:
        copied, named = first[rpm]
        tmp, sha256, content = prepared_copy(copied, arch_dir / href, None, follow=False)
        copy_into_place(sbom_path(named), sbom_path(dest))
    else:
        tmp, sha256, content = prepared_copy(rpm, arch_dir / href, key)
        copy_sbom(rpm, dest, dist)
    record = Record.from_header(header, sha256, content)
    rename_into_place(tmp, arch_dir / href)
    first.setdefault(rpm, (arch_dir / href, dest))
    ledger.add(arch_dir.name, href, record)
    state[arch_dir].pop(dest.name, None)
    state[arch_dir][href] = record
    return Published(header.nevra, dest, "replaced" if old else "added")


def _accounted(
    dist_dir: Path, target: Target, ledger: Ledger, vouched: set[str], reporter: Reporter
) -> State:
    """The packages of every architecture's directory that pkgrun accounts for; refused, with
    each path and why, when the live metadata lists anything else."""
    arch_dirs = {p.parent.parent for p in dist_dir.glob("*/repodata/repomd.xml")}
    arch_dirs |= {dist_dir / href.split("/", 1)[0] for href in ledger.files}
    arch_dirs |= {dist_dir / arch for arch in target.arches if os.path.lexists(dist_dir / arch)}
    linked = sorted(d for d in arch_dirs if d.is_symlink() or (d / "repodata").is_symlink())
    if linked:
        raise UnsafeRpm(
            "the repository's architecture directories must be its own: "
            + ", ".join(str(d if d.is_symlink() else d / "repodata") for d in linked)
            + " is a symlink",
            hint="nothing was written; remove the link (pkgrun never makes one) and publish again",
        )
    state: State = {}
    refused: list[Refused] = []
    adopting = not ledger.known
    for arch_dir in sorted(arch_dirs):
        state[arch_dir], refused_here = reconcile(ledger, arch_dir, vouched)
        refused += refused_here
    if refused:
        raise refusal(refused, dist_dir, target.dist)
    if not ledger.files:
        ledger.signed_with = None  # nothing published (a repository removed and made anew, say)
    if adopting and ledger.files:
        reporter.note(
            "publish",
            f"pkgrun had no record of publishing into {dist_dir}: it takes the {len(ledger.files)} "
            f"package(s) its metadata lists as they are (kept in {ledger.path}); it signs none of "
            "them that is not signed with its key until it is published again by name",
        )
    return state


def _switch(
    dist_dir: Path,
    target: Target,
    ledger: Ledger,
    state: State,
    todo: list[ToSign],
    key: SigningKey | None,
) -> None:
    """The new state into the record, then into the live metadata. Packages re-signed (``todo``)
    go through ``resigned/`` first: never a package rewritten under a name the live metadata
    lists with other bytes."""
    if todo and key is not None:
        sign_aside(ledger, state, todo, key)
    aside = sorted(
        arch_dir
        for arch_dir, records in state.items()
        if any(h.startswith(RESIGNED + "/") and f"{arch_dir.name}/{h}" in ledger.pending for h in records)
    )
    if aside:
        ledger.save()  # what the first switch adds: a run killed before it leaves all as it was
        for arch_dir in aside:
            update_metadata(arch_dir, dist_dir, ledger, state[arch_dir], target.metadata_compression, key)
            ledger.confirm(arch_dir.name, state[arch_dir])
    for arch_dir, records in sorted(state.items()):
        settle(ledger, arch_dir, records)
    ledger.save()  # what the switches below add
    signer = key.fingerprint if key is not None else None
    for arch_dir, records in sorted(state.items()):
        arch = arch_dir.name
        unchanged = records == ledger.in_arch(arch) and not ledger.in_arch(arch, ledger.pending)
        if not (unchanged and signer == ledger.signed_with and is_current(arch_dir, ledger, key is not None)):
            update_metadata(arch_dir, dist_dir, ledger, records, target.metadata_compression, key)
        ledger.confirm(arch_dir.name, records)
        remove_waiting(arch_dir, set(records))
        _prune(arch_dir, set(records))
    ledger.signed_with = key.fingerprint if key is not None else None
    ledger.save()


def record_builds(
    repo_root: Path, target: Target, index: Mapping[str, Mapping[str, Any]], *, reporter: Reporter
) -> None:
    """Record build index entries without publishing (a rebuild identical to what is published),
    under the lock like a publish."""
    dist_dir = repo_root / target.dist
    with repo_lock(dist_dir, reporter, "record"):
        record_index(dist_dir, index)


def sign_repository(
    repo_root: Path,
    target: Target,
    key: SigningKey,
    *,
    records: Path,
    reporter: Reporter,
    baseurl: str | None = None,
    dry_run: bool = False,
) -> list[Path]:
    """Sign every package of the target's repository that is not signed with ``key`` yet, and
    its metadata, under the lock and as a publish (idempotent): only packages pkgrun's record
    accounts for, each named before anything is signed. The files signed (to be, ``dry_run``)."""
    dist_dir = repo_root / target.dist
    if not any(dist_dir.glob("*/repodata/repomd.xml")):
        raise UsageError(
            f"no repository at {dist_dir}",
            hint="check --repo and --target (without it: the first of pkgrun.toml's [nightly] "
            "targets, else el7)",
        )
    with repo_lock(dist_dir, reporter, "sign"):
        ledger = Ledger.load(records, dist_dir)
        state = _accounted(dist_dir, target, ledger, set(), reporter)
        copies = noarch_copies(dist_dir, target, state) if dry_run else []
        if not dry_run:
            spread_noarch(dist_dir, target, ledger, state)
        todo, refused = plan_signing(state, key, skip=set())
        if refused:
            raise refusal(refused, dist_dir, target.dist)
        for item in todo:
            reporter.note(
                "sign",
                f"{'would sign' if dry_run else 'signing'} {item.path}: its content is "
                f"what pkgrun published (sha256 {str(item.record.content)[:16]}…)",
            )
        signed = [item.path for item in todo]
        for copy in copies:  # what the run would copy into an architecture, and sign if unsigned
            if copy.source in signed:
                signed.append(copy.dest)
            reporter.note(
                "sign",
                f"would copy {copy.source.name} into {copy.dest.parent}"
                + (" and sign it" if copy.source in signed else " (signed with this key already)"),
            )
        if not dry_run:
            _switch(dist_dir, target, ledger, state, todo, key)
            _finish(dist_dir, target, baseurl or repo_root.resolve().as_uri(), key)
    return signed


def _is_signed(dist_dir: Path) -> bool:
    return (dist_dir / KEY_FILE).exists() or any(dist_dir.glob(f"*/repodata/{SIGNATURE}"))


def _finish(dist_dir: Path, target: Target, baseurl: str, key: SigningKey | None) -> None:
    """The public key beside the repository and the .repo file that names it (or says that
    nothing is checked, for an unsigned repository)."""
    if key is not None:
        write_atomically(dist_dir / KEY_FILE, public_key(key))
    else:  # an unsigned repository publishes no key or signature that would suggest otherwise
        (dist_dir / KEY_FILE).unlink(missing_ok=True)
        for signature in dist_dir.glob(f"*/repodata/{SIGNATURE}"):
            signature.unlink()
    write_atomically(dist_dir / REPO_FILE, repo_file_text(target.dist, baseurl, signed=key is not None))


def _prune(arch_dir: Path, kept: set[str]) -> None:
    """Remove the packages (and their SBOMs) no metadata lists: pruned by retention, or the
    leftovers of a killed publish."""
    for path in arch_dir.glob("*.rpm"):
        if path.name not in kept and not path.is_symlink():
            path.unlink()
    for path in arch_dir.glob(f"*{SBOM_SUFFIX}"):
        if path.name.removesuffix(SBOM_SUFFIX) + ".rpm" not in kept and not path.is_symlink():
            path.unlink()


def _beyond_retention(packages: Mapping[str, Record], keep: int, protect: set[str]) -> set[str]:
    """The files of the releases of each package name older than its newest ``keep``."""
    by_name: dict[str, list[tuple[EVR, str]]] = {}
    for filename, record in packages.items():
        by_name.setdefault(record.name, []).append((record.header.evr, filename))
    doomed: set[str] = set()
    for releases in by_name.values():
        releases.sort(key=lambda item: item[0], reverse=True)
        doomed |= {filename for _, filename in releases[keep:] if filename not in protect}
    return doomed


def record_index(dist_dir: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Add ``entries`` to the index; called under the repository's lock, written atomically."""
    index = read_index(dist_dir)
    index.update(entries)
    write_atomically(dist_dir / INDEX_FILE, json.dumps(index, indent=1, sort_keys=True))
