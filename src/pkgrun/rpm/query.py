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
# Scriptlets no recipe can ask for: one in a package means something other than the recipe made it
FOREIGN_SCRIPT_TAGS = ("PRETRANS", "POSTTRANS", "VERIFYSCRIPT", "TRIGGERSCRIPTS")
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


_FILES_FORMAT = (
    "[%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\t%{FILEMODES}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}"
    "\t%{FILEDIGESTS}\t%{FILENAMES}\n]"
)
_SCRIPT_TAGS = (*SCRIPT_TAGS.values(), *FOREIGN_SCRIPT_TAGS)


def read_format(separator: str) -> str:
    """One query for everything :func:`read_rpm` reads, its parts between ``separator``s: the
    header tags, requires, provides, files, then each scriptlet."""
    parts = [
        *(f"%{{{tag}}}" for tag in HEADER_TAGS),
        "[%{REQUIREFLAGS:deptype}\t%{REQUIRENEVRS}\n]",
        "[%{PROVIDENEVRS}\n]",
        _FILES_FORMAT,
        *(f"[%{{{tag}}}\n]" if tag == "TRIGGERSCRIPTS" else f"%{{{tag}}}" for tag in _SCRIPT_TAGS),
    ]
    return separator.join(parts)


def read_rpm(rpm: Path) -> RpmInfo:
    """The package as rpm reads it, in one rpm run. Its parts are cut at a separator made anew
    for each query: no text inside a package (a summary, a scriptlet) can pass for one."""
    separator = f"\x1e{secrets.token_hex(8)}\x1e"
    parts = run(query_argv(rpm, read_format(separator)), hint=_RPM_HINT).stdout.split(separator)
    wanted = len(HEADER_TAGS) + 3 + len(_SCRIPT_TAGS)
    if len(parts) != wanted:
        raise CommandFailed(query_argv(rpm, "..."), 0, f"rpm printed {len(parts)} parts, not {wanted}")
    header = dict(zip(HEADER_TAGS, parts, strict=False))
    required, provided, listed, *bodies = parts[len(HEADER_TAGS) :]
    lines = [line.strip() for line in required.splitlines()]
    # what the package requires of the system, whatever the kind (plain, pre, interp...), once
    # each, in order; not rpm's own features (rpmlib(...))
    requires = list(dict.fromkeys(r.split("\t", 1)[1] for r in lines if not r.startswith("rpmlib\t")))
    provides = tuple(line.strip() for line in provided.splitlines() if line.strip())
    files = []
    for line in listed.splitlines():
        flags, mode, octal, user, group, digest, path = line.split("\t", 6)
        files.append(RpmFile(path, mode, user, group, "c" in flags, int(octal), digest))
    scripts = {
        tag: "" if body.strip() in ("(none)", "") else body
        for tag, body in zip(_SCRIPT_TAGS, bodies, strict=True)
    }
    return RpmInfo(header, requires, files, scripts, rpm.stat().st_size, provides)
