"""What publishing needs of an RPM's header, read with createrepo_c's bindings (the library that
will describe the package in the metadata), and checked: the fields that become a file name in
the repository must hold what rpmbuild allows, whatever a crafted header says."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import createrepo_c as cr  # type: ignore[import-untyped]

from pkgrun.errors import EXIT_BAD_INPUT, PkgrunError
from pkgrun.evr import EVR


class UnsafeRpm(PkgrunError):
    """An RPM whose header would put a file where it does not belong, or that is no RPM."""

    exit_code = EXIT_BAD_INPUT


# What rpm itself lets through rpmbuild in each header field that becomes part of a path
# (rpmbuild's rpmCharCheck, without the macro characters): a crafted header must not name a
# file outside the repository ("../../x"), a hidden one, or one with control characters.
HEADER_RULES = {
    "name": (re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*"), "letters, digits and . _ + - (not first)"),
    "version": (re.compile(r"[A-Za-z0-9_+~^][A-Za-z0-9._+~^]*"), "letters, digits and . _ + ~ ^"),
    "release": (re.compile(r"[A-Za-z0-9_+~^][A-Za-z0-9._+~^]*"), "letters, digits and . _ + ~ ^"),
    "arch": (re.compile(r"[A-Za-z0-9_]+"), "letters, digits and _"),
}
# A file name as metadata lists it, and as publishing writes it
FILE_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+~^-]*\.rpm")


@dataclass(frozen=True)
class RpmHeader:
    """What publishing needs of a package, read with createrepo_c (the library that will
    describe it in the metadata): its NEVRA and the sha256 of its file."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    sha256: str

    @classmethod
    def from_package(cls, pkg: Any) -> RpmHeader:
        return cls(
            str(pkg.name),
            int(pkg.epoch or 0),
            str(pkg.version),
            str(pkg.release),
            str(pkg.arch),
            str(pkg.pkgId),
        )

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"

    @property
    def evr(self) -> EVR:
        return EVR(self.epoch, self.version, self.release)

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"

    def unsafe_fields(self) -> list[str]:
        """The header fields that cannot become part of a path, with what is allowed."""
        out = []
        for field, (pattern, allowed) in HEADER_RULES.items():
            value = getattr(self, field)
            if not pattern.fullmatch(value) or len(value) > 255:
                out.append(f"{field} {value[:80]!r} (allowed: {allowed})")
        return out


def read_header(rpm: Path) -> RpmHeader:
    try:
        header = RpmHeader.from_package(cr.package_from_rpm(str(rpm)))
    except Exception as exc:  # the bindings raise their own error type
        raise UnsafeRpm(f"{rpm} is not a readable RPM: {exc}", hint="publish built .rpm files") from None
    if bad := header.unsafe_fields():
        raise UnsafeRpm(
            f"{rpm} is refused: its header's " + "; ".join(bad),
            hint="nothing was written; a package's name, version, release and arch become its file "
            "name in the repository, so they must hold what rpmbuild allows",
        )
    return header
