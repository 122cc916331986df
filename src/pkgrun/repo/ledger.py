"""What pkgrun published into a distribution's repository, recorded outside it.

Whoever can write the repository directory can also rewrite its metadata, so the metadata cannot
say what pkgrun published. This record can: it is kept in pkgrun's state directory
(``$XDG_STATE_HOME/pkgrun/published/``), one file per distribution directory, and holds every
package file pkgrun placed there (NEVRA, the sha256 of the file, the digest of its content without
the signature) and the key that signed the whole repository last.

Every publish and every ``repo sign`` starts by reconciling the repository's live metadata with
it (:func:`reconcile`): a package the metadata lists that the record does not account for is
refused, with its path and why, before anything is written or signed. The metadata pkgrun writes
is then made from the record, and checked against it before it is signed and switched in.

The record is written before each metadata switch: ``files`` holds what the live metadata lists,
``pending`` what the coming switch adds. A publish killed before its switch leaves the repository
as it was: the next publish drops its pending records (and prunes their files). One killed after
its switch has its pending records confirmed by the next, which finds them listed.

A repository pkgrun has no record of (published by an older pkgrun, or from another machine's
state) is adopted from its metadata, each package marked ``adopted``: it stays listed, but pkgrun
signs an adopted package only when someone publishes it again by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pkgrun.errors import PkgrunError
from pkgrun.repo.data import packages_in
from pkgrun.repo.files import write_atomically
from pkgrun.rpm.header import FILE_NAME, RpmHeader, UnsafeRpm

SCHEME = 1
RESIGNED = "resigned"  # the directory beside the packages where re-signed copies wait for the switch


class DamagedRecord(PkgrunError):
    pass


@dataclass(frozen=True)
class Record:
    """One package file pkgrun published: where, what, and its digests."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    sha256: str  # of the file, as the metadata lists it
    content: str | None  # of the main header and payload (rpmheader.content_digest); None: adopted
    adopted: bool = False

    @classmethod
    def from_header(
        cls, header: RpmHeader, sha256: str, content: str | None, adopted: bool = False
    ) -> Record:
        return cls(
            header.name, header.epoch, header.version, header.release, header.arch, sha256, content, adopted
        )

    @property
    def header(self) -> RpmHeader:
        return RpmHeader(self.name, self.epoch, self.version, self.release, self.arch, self.sha256)

    @property
    def nevra(self) -> str:
        return self.header.nevra


@dataclass
class Ledger:
    path: Path
    dist_dir: Path
    known: bool = False  # whether pkgrun had a record of this repository
    signed_with: str | None = None  # the fingerprint of the key that signed every package last
    files: dict[str, Record] = field(default_factory=dict)  # "x86_64/name.rpm" -> record: listed
    pending: dict[str, Record] = field(default_factory=dict)  # what the coming switch adds

    @classmethod
    def load(cls, records_dir: Path, dist_dir: Path) -> Ledger:
        resolved = dist_dir.resolve()
        path = records_dir / "published" / f"{hashlib.sha256(str(resolved).encode()).hexdigest()[:32]}.json"
        ledger = cls(path, resolved)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return ledger
        except OSError as exc:
            raise _damaged(path, f"cannot be read ({exc.strerror})") from None
        try:
            data = json.loads(text)
            if data.get("scheme") != SCHEME or data.get("repository") != str(resolved):
                raise ValueError("it is not this repository's, or not of this pkgrun")
            ledger.signed_with = _optional_str(data.get("signed_with"))
            ledger.files = {str(href): Record(**rec) for href, rec in dict(data["files"]).items()}
            ledger.pending = {str(href): Record(**rec) for href, rec in dict(data["pending"]).items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _damaged(path, f"is damaged ({exc})") from None
        ledger.known = True
        return ledger

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {
            "scheme": SCHEME,
            "repository": str(self.dist_dir),
            "signed_with": self.signed_with,
            "files": {href: asdict(rec) for href, rec in sorted(self.files.items())},
            "pending": {href: asdict(rec) for href, rec in sorted(self.pending.items())},
        }
        write_atomically(self.path, json.dumps(data, indent=1))
        self.known = True

    def in_arch(self, arch: str, records: dict[str, Record] | None = None) -> dict[str, Record]:
        """The records (``files`` unless given) of one architecture's directory, by their path
        inside it."""
        prefix = arch + "/"
        items = (self.files if records is None else records).items()
        return {href[len(prefix) :]: rec for href, rec in items if href.startswith(prefix)}

    def add(self, arch: str, href: str, record: Record) -> None:
        """A file the coming switch of ``arch``'s metadata lists."""
        self.pending[f"{arch}/{href}"] = record

    def confirm(self, arch: str, listed: dict[str, Record]) -> None:
        """``arch``'s live metadata now lists exactly ``listed``."""
        prefix = arch + "/"
        for records in (self.files, self.pending):
            for href in [h for h in records if h.startswith(prefix)]:
                del records[href]
        self.files.update({prefix + href: rec for href, rec in listed.items()})


def _optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("signed_with is not a fingerprint")
    return value


def _damaged(path: Path, what: str) -> DamagedRecord:
    return DamagedRecord(
        f"pkgrun's record of what it published, {path}, {what}",
        hint="nothing was written or signed; restore it from a backup, or remove it: pkgrun then "
        "takes the repository's metadata as it is, and signs none of its packages until they are "
        "published again by name",
    )


def href_allowed(href: str) -> bool:
    """A path in an architecture's directory that pkgrun writes: a package file, or one waiting in
    the re-signing directory (never a path taken from someone's metadata)."""
    name = href.removeprefix(RESIGNED + "/")
    return FILE_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class Refused:
    path: Path
    why: str


def reconcile(ledger: Ledger, arch_dir: Path, vouched: set[str]) -> tuple[dict[str, Record], list[Refused]]:
    """The packages of one architecture's directory that pkgrun accounts for (by path inside it),
    and what its live metadata lists that pkgrun does not. ``vouched``: the sha256 of the files
    this run publishes by name (an RPM published again on purpose accounts for itself). The
    ledger (in memory) then records what is listed: pending records listed are confirmed (their
    switch happened), the others dropped. Adopts the metadata when pkgrun has no record."""
    arch = arch_dir.name
    recorded, waiting = ledger.in_arch(arch), ledger.in_arch(arch, ledger.pending)
    listed: dict[str, Record] = {}
    refused: list[Refused] = []
    for pkg in packages_in(arch_dir):
        href, sha = str(pkg.location_href), str(pkg.pkgId)
        path = arch_dir / href
        known = [r for r in (recorded.get(href), waiting.get(href)) if r is not None]
        match = [r for r in known if r.sha256 == sha]
        if match:
            listed[href] = match[0]
        elif not ledger.known and href_allowed(href):
            try:
                listed[href] = Record.from_header(RpmHeader.from_package(pkg), sha, None, adopted=True)
            except UnsafeRpm as exc:
                if sha not in vouched:  # published again by name now: its placement records it
                    refused.append(Refused(path, str(exc)))
        elif sha in vouched:
            pass  # published again by name now: its placement records it
        elif not href_allowed(href):
            refused.append(Refused(path, "pkgrun never writes a package there"))
        elif not path.exists() and not path.is_symlink():
            pass  # gone: the metadata pkgrun writes next no longer lists it
        elif known:
            refused.append(
                Refused(path, f"its sha256 is {sha[:16]}…, pkgrun published {known[0].sha256[:16]}…")
            )
        else:
            refused.append(Refused(path, "pkgrun has no record of publishing it"))
    ledger.confirm(arch, listed)
    return dict(listed), refused


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
