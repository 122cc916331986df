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
from pkgrun.numerals import number
from pkgrun.rpm.evr import EVR


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
        """A package as metadata lists it; UnsafeRpm when its epoch is no number (rpm never
        writes one, so something else wrote that metadata)."""
        epoch = number(str(pkg.epoch or 0))
        if epoch is None:
            raise UnsafeRpm(f"epoch {str(pkg.epoch)!r} is not a number")
        return cls(
            str(pkg.name),
            epoch,
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


_LEAD = 96
_HEADER_MAGIC = b"\x8e\xad\xe8\x01"


def content_digest(rpm: Path) -> str:
    """The sha256 of the package without its signature: the main header and the payload, which
    signing leaves as they are (rpmsign rewrites only the signature header). A package and its
    signed copy have the same content digest."""
    import hashlib

    with rpm.open("rb") as fh:
        fh.seek(_LEAD)
        intro = fh.read(16)
        if len(intro) != 16 or intro[:4] != _HEADER_MAGIC:
            raise UnsafeRpm(f"{rpm} is not an RPM (no signature header)", hint="publish built .rpm files")
        entries = int.from_bytes(intro[8:12], "big")
        size = int.from_bytes(intro[12:16], "big")
        end = _LEAD + 16 + entries * 16 + size
        fh.seek(end + (-end % 8))  # the signature header is padded to 8 bytes
        digest = hashlib.sha256()
        magic = fh.read(4)
        if magic != _HEADER_MAGIC:  # cut short, or no RPM
            raise UnsafeRpm(f"{rpm} is not a whole RPM (no main header)", hint="publish built .rpm files")
        digest.update(magic)
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# Header tags that are not the package's content: the immutable region's marker (whose data
# records offsets, which shift when any string's length does) and the header's own digests.
_NOT_CONTENT = {61, 62, 63, 269, 273, 5092}  # regions, SHA1HEADER, SHA256HEADER, PAYLOADDIGEST
_NAME_TAG, _VERSION_TAG, _RELEASE_TAG = 1000, 1001, 1002
_PROVIDENAME_TAG, _PROVIDEVERSION_TAG = 1047, 1113
# where the package's own version-release appears as a name of itself: the source RPM's file
# name, and the changelog's author line and text (pkgrun's entry names version-release)
_OWN_RELEASE_TAGS = {1044, 1081, 1082}
_STRING_TYPES = {6, 8, 9}  # STRING, STRING_ARRAY, I18NSTRING
_WIDTH = {0: 0, 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}


def _header_entries(data: bytes, start: int) -> tuple[dict[int, tuple[int, list[bytes] | bytes]], int]:
    """The header at ``start``: {tag: (type, value)} and the offset just past it. A string
    value is its list of strings; any other, its bytes."""
    if data[start : start + 4] != _HEADER_MAGIC:
        raise UnsafeRpm("not an RPM header", hint="publish built .rpm files")
    entries = int.from_bytes(data[start + 8 : start + 12], "big")
    size = int.from_bytes(data[start + 12 : start + 16], "big")
    index, store = start + 16, start + 16 + entries * 16
    out: dict[int, tuple[int, list[bytes] | bytes]] = {}
    for i in range(entries):
        at = index + i * 16
        tag, kind, offset, count = (int.from_bytes(data[at + k : at + k + 4], "big") for k in (0, 4, 8, 12))
        if not 0 <= offset < size or kind > 9:
            raise UnsafeRpm(f"a corrupt RPM header (tag {tag})", hint="publish built .rpm files")
        if kind in _STRING_TYPES:
            strings, pos = [], store + offset
            for _ in range(count if kind != 6 else 1):
                end = data.index(b"\0", pos, store + size)
                strings.append(data[pos:end])
                pos = end + 1
            out[tag] = (kind, strings)
        else:
            out[tag] = (kind, data[store + offset : store + offset + _WIDTH[kind] * count])
    return out, store + size


def _string(tags: dict[int, tuple[int, list[bytes] | bytes]], tag: int) -> bytes:
    value = tags.get(tag, (6, [b""]))[1]
    return value[0] if isinstance(value, list) and value else b""


def release_free_digest(rpm: Path) -> str:
    """The sha256 of the package apart from its release and signature: the main header's tags
    and the payload, with the package's own "version-release" blanked where it names the package
    itself (its own Provides, the source RPM's name, the changelog). Two builds that differ only
    in release and signature, as a rebuild for a dependency's new release that changes nothing,
    have the same digest; a different Requires (say `= version-release` of a sibling) does not."""
    import hashlib

    data = rpm.read_bytes()
    try:
        _, after_signature = _header_entries(data, _LEAD)
        main_start = after_signature + (-after_signature % 8)
        tags, payload = _header_entries(data, main_start)
    except (ValueError, IndexError):
        raise UnsafeRpm(f"{rpm} has a corrupt RPM header", hint="publish built .rpm files") from None
    name = _string(tags, _NAME_TAG)
    version_release = _string(tags, _VERSION_TAG) + b"-" + _string(tags, _RELEASE_TAG)
    own_provides = [_owns(provided, name) for provided in _strings(tags, _PROVIDENAME_TAG)]
    digest = hashlib.sha256()
    for tag in sorted(set(tags) - _NOT_CONTENT - {_RELEASE_TAG}):
        kind, value = tags[tag]
        digest.update(f"{tag}:{kind}:".encode())
        if isinstance(value, list):
            for i, item in enumerate(value):
                own = tag in _OWN_RELEASE_TAGS or (
                    tag == _PROVIDEVERSION_TAG and i < len(own_provides) and own_provides[i]
                )
                digest.update((item.replace(version_release, b"@VERSION-RELEASE@") if own else item) + b"\0")
        else:
            digest.update(value)
        digest.update(b"\n")
    digest.update(hashlib.sha256(data[payload:]).digest())
    return digest.hexdigest()


def _strings(tags: dict[int, tuple[int, list[bytes] | bytes]], tag: int) -> list[bytes]:
    value = tags.get(tag, (8, []))[1]
    return value if isinstance(value, list) else []


def _owns(provided: bytes, name: bytes) -> bool:
    """Whether a Provides names the package itself: NAME, or NAME(arch)."""
    return provided == name or (provided.startswith(name + b"(") and provided.endswith(b")"))


# The file list's tags (rpmtag.h)
_DIRINDEXES, _BASENAMES, _DIRNAMES = 1116, 1117, 1118
_FILEMODES, _FILEDIGESTS, _FILELINKTOS = 1030, 1035, 1036
_FILEUSERNAME, _FILEGROUPNAME, _FILEDIGESTALGO = 1039, 1040, 5011
# rpm's numbers for its file digest algorithms, as hashlib names them; none given: md5
FILE_DIGESTS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512"}


@dataclass(frozen=True)
class HeaderFile:
    """A file as the package's header lists it."""

    path: str
    mode: int  # st_mode: the file's type and permission bits
    digest: str  # of its content, hex ("" for a directory or a link)
    link: str  # a link's target ("" otherwise)
    user: str
    group: str


def header_files(rpm: Path) -> tuple[list[HeaderFile], str]:
    """The files the package's main header lists, and the hashlib name of the algorithm of
    their digests (read here, with no tool: a package from elsewhere is data)."""
    data = rpm.read_bytes()
    try:
        _, after_signature = _header_entries(data, _LEAD)
        tags, _ = _header_entries(data, after_signature + (-after_signature % 8))
        names = _strings(tags, _BASENAMES)
        dirs = _strings(tags, _DIRNAMES)
        paths = [
            (dirs[i] + name).decode() for i, name in zip(_ints(tags, _DIRINDEXES, 4), names, strict=True)
        ]
        modes = _ints(tags, _FILEMODES, 2)
        texts = [_strings(tags, tag) for tag in (_FILEDIGESTS, _FILELINKTOS, _FILEUSERNAME, _FILEGROUPNAME)]
        files = [
            HeaderFile(path, mode, *(column[i].decode() for column in texts))
            for i, (path, mode) in enumerate(zip(paths, modes, strict=True))
        ]
        if any(len(column) != len(paths) for column in texts):
            raise ValueError("the file list's tags differ in length")
        algorithm = (_ints(tags, _FILEDIGESTALGO, 4) or [1])[0]
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise UnsafeRpm(f"{rpm} has a corrupt file list ({exc})", hint="publish built .rpm files") from None
    if algorithm not in FILE_DIGESTS:
        raise UnsafeRpm(f"{rpm}: unknown file digest algorithm {algorithm}", hint="publish built .rpm files")
    return files, FILE_DIGESTS[algorithm]


def _ints(tags: dict[int, tuple[int, list[bytes] | bytes]], tag: int, width: int) -> list[int]:
    """An integer tag's values (big-endian, ``width`` bytes each); none when absent."""
    value = tags.get(tag, (0, b""))[1]
    if isinstance(value, list):
        raise ValueError(f"tag {tag} holds strings")
    return [int.from_bytes(value[i : i + width], "big") for i in range(0, len(value), width)]
