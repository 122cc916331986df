"""An RPM as rpm itself reads it: its header tags, dependencies, files and scriptlets (rpm -qp).
Beside header.py, which reads the few tags the repository needs without rpm."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from pkgrun.errors import CommandFailed
from pkgrun.run import run

# The header tags pkgrun checks, in one query; "(none)" is rpm's word for an absent tag.
HEADER_TAGS = (
    "NAME",
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "SUMMARY",
    "LICENSE",
    "URL",
    "VENDOR",
    "PAYLOADCOMPRESSOR",
    "SIZE",
    "FILEDIGESTALGO",  # how FILEDIGESTS are made: 8 is sha256; none given is md5 (old rpm)
)
SCRIPT_TAGS = {
    "before-install": "PREIN",
    "after-install": "POSTIN",
    "before-remove": "PREUN",
    "after-remove": "POSTUN",
}
# Scriptlets no recipe can ask for: one in a package means something other than the recipe made
# it. A scriptlet may be a program alone (%pretrans -p /bin/true): its interpreter tag is set,
# its body empty. File triggers (rpm 4.13 on) are scriptlets too.
FOREIGN_SCRIPT_TAGS = (
    "PRETRANS",
    "POSTTRANS",
    "VERIFYSCRIPT",
    "TRIGGERSCRIPTS",
    "FILETRIGGERSCRIPTS",
    "TRANSFILETRIGGERSCRIPTS",
    "PRETRANSPROG",
    "POSTTRANSPROG",
    "VERIFYSCRIPTPROG",
    "TRIGGERSCRIPTPROG",
    "FILETRIGGERSCRIPTPROG",
    "TRANSFILETRIGGERSCRIPTPROG",
)
_ARRAY_TAGS = {"TRIGGERSCRIPTS", "FILETRIGGERSCRIPTS", "TRANSFILETRIGGERSCRIPTS", "TRIGGERSCRIPTPROG",
               "FILETRIGGERSCRIPTPROG", "TRANSFILETRIGGERSCRIPTPROG"}  # fmt: skip
_RPM_HINT = "install rpm (Debian/Ubuntu: apt-get install rpm) to read built packages back"


@dataclass(frozen=True)
class RpmFile:
    path: str
    mode: str  # as rpm prints it: -rwxr-xr-x
    user: str
    group: str
    config: bool
    octal: int = 0  # st_mode
    digest: str = ""  # the file's sha256 as the header records it ("" for directories and links)


@dataclass(frozen=True)
class RpmInfo:
    header: dict[str, str]
    requires: list[str]
    files: list[RpmFile]
    scripts: dict[str, str]  # PREIN ... -> body, "" when absent
    size: int  # of the .rpm file
    provides: tuple[str, ...] = ()

    @property
    def nevra(self) -> str:
        h = self.header
        return f"{h['NAME']}-{h['EPOCH']}:{h['VERSION']}-{h['RELEASE']}.{h['ARCH']}"


def query_argv(rpm: Path, fmt: str) -> list[str]:
    return ["rpm", "-qp", "--nosignature", "--nodigest", "--qf", fmt, str(rpm)]


_SCRIPT_TAGS = (*SCRIPT_TAGS.values(), *FOREIGN_SCRIPT_TAGS)
_FILE_TAGS = (
    "FILEFLAGS:fflags",
    "FILEMODES:perms",
    "FILEMODES",
    "FILEUSERNAME",
    "FILEGROUPNAME",
    "FILEDIGESTS",
    "FILENAMES",
)


@dataclass(frozen=True)
class _Separators:
    """Made anew for each query: no text inside a package (a summary, a file name, a scriptlet,
    whatever characters it holds) can pass for one."""

    part: str  # between the query's parts
    entry: str  # after each element of a list
    field: str  # between the fields of an element

    @classmethod
    def new(cls) -> _Separators:
        token = secrets.token_hex(8)
        return cls(f"\x1e{token}P", f"\x1e{token}E", f"\x1e{token}F")


def read_format(sep: _Separators) -> str:
    """One query for everything :func:`read_rpm` reads, its parts between ``sep.part``: the
    header tags, requires, provides, files, then each scriptlet ("" when the package has none)."""

    def listed(*tags: str) -> str:
        return "[" + sep.field.join(f"%{{{tag}}}" for tag in tags) + sep.entry + "]"

    def scriptlet(tag: str) -> str:
        return listed(tag) if tag in _ARRAY_TAGS else f"%|{tag}?{{%{{{tag}}}}}:{{}}|"

    parts = [
        *(f"%{{{tag}}}" for tag in HEADER_TAGS),
        listed("REQUIREFLAGS:deptype", "REQUIRENEVRS"),
        listed("PROVIDENEVRS"),
        listed(*_FILE_TAGS),
        *(scriptlet(tag) for tag in _SCRIPT_TAGS),
    ]
    return sep.part.join(parts)


def read_rpm(rpm: Path) -> RpmInfo:
    """The package as rpm reads it, in one rpm run."""
    sep = _Separators.new()
    out = run(query_argv(rpm, read_format(sep)), hint=_RPM_HINT).stdout
    try:
        return _parsed(rpm, out, sep)
    except ValueError as exc:
        raise CommandFailed(query_argv(rpm, "..."), 0, f"rpm's answer could not be read: {exc}") from None


def _parsed(rpm: Path, out: str, sep: _Separators) -> RpmInfo:
    parts = out.split(sep.part)
    wanted = len(HEADER_TAGS) + 3 + len(_SCRIPT_TAGS)
    if len(parts) != wanted:
        raise ValueError(f"{len(parts)} parts, not {wanted}")
    header = dict(zip(HEADER_TAGS, parts, strict=False))
    required, provided, listed, *bodies = parts[len(HEADER_TAGS) :]

    def entries(text: str, fields: int) -> list[list[str]]:
        if not text.endswith(sep.entry) and text:
            raise ValueError("a list that does not end as asked")
        out = [entry.split(sep.field) for entry in text.split(sep.entry)[:-1]]
        if any(len(entry) != fields for entry in out):
            raise ValueError(f"a list entry without its {fields} fields")
        return out

    # what the package requires of the system, whatever the kind (plain, pre, interp...), once
    # each, in order; not rpm's own features (rpmlib(...))
    requires = list(dict.fromkeys(name for kind, name in entries(required, 2) if kind != "rpmlib"))
    provides = tuple(name for (name,) in entries(provided, 1) if name)
    files = [
        RpmFile(path, mode, user, group, "c" in flags, int(octal), digest)
        for flags, mode, octal, user, group, digest, path in entries(listed, len(_FILE_TAGS))
    ]
    scripts = {
        tag: "".join(e[0] for e in entries(body, 1)) if tag in _ARRAY_TAGS else body
        for tag, body in zip(_SCRIPT_TAGS, bodies, strict=True)
    }
    return RpmInfo(header, requires, files, scripts, rpm.stat().st_size, provides)
