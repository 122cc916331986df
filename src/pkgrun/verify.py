"""Read a built RPM back with rpm itself and check it against the plan before anyone uses it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pkgrun.autodeps import Generated
from pkgrun.errors import PkgrunError
from pkgrun.nfpm import config_files
from pkgrun.plan import BuildPlan
from pkgrun.run import run
from pkgrun.staging import Entry

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
# nfpm's names of the same scriptlets (nfpm.SCRIPT_KEYS), to compare with what pkgrun made
_NFPM_KEYS = {"PREIN": "preinstall", "POSTIN": "postinstall", "PREUN": "preremove", "POSTUN": "postremove"}
# Scriptlets no recipe can ask for: one in a package means something other than the recipe made it
FOREIGN_SCRIPT_TAGS = ("PRETRANS", "POSTTRANS", "VERIFYSCRIPT", "TRIGGERSCRIPTS")
_SEP = "\x1f"  # between fields: no header value holds it
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


def read_rpm(rpm: Path) -> RpmInfo:
    def query(fmt: str) -> str:
        return run(query_argv(rpm, fmt), hint=_RPM_HINT).stdout

    values = query(_SEP.join(f"%{{{tag}}}" for tag in HEADER_TAGS)).split(_SEP)
    header = dict(zip(HEADER_TAGS, values, strict=True))
    lines = [line.strip() for line in query("[%{REQUIREFLAGS:deptype}\t%{REQUIRENEVRS}\n]").splitlines()]
    # what the package requires of the system, whatever the kind (plain, pre, interp...), once
    # each, in order; not rpm's own features (rpmlib(...))
    requires = list(dict.fromkeys(r.split("\t", 1)[1] for r in lines if not r.startswith("rpmlib\t")))
    provides = tuple(line.strip() for line in query("[%{PROVIDENEVRS}\n]").splitlines() if line.strip())
    files = []
    for line in query(
        "[%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\t%{FILEMODES}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}"
        "\t%{FILEDIGESTS}\t%{FILENAMES}\n]"
    ).splitlines():
        flags, mode, octal, user, group, digest, path = line.split("\t", 6)
        files.append(RpmFile(path, mode, user, group, "c" in flags, int(octal), digest))
    scripts = {}
    for tag in (*SCRIPT_TAGS.values(), *FOREIGN_SCRIPT_TAGS):
        body = query(f"[%{{{tag}}}\n]" if tag == "TRIGGERSCRIPTS" else f"%{{{tag}}}")
        scripts[tag] = "" if body.strip() in ("(none)", "") else body
    return RpmInfo(header, requires, files, scripts, rpm.stat().st_size, provides)


def check_rpm(
    info: RpmInfo,
    plan: BuildPlan,
    scripts: Mapping[str, str] | None = None,
    entries: Sequence[Entry] | None = None,
    generated: Generated | None = None,
) -> list[str]:
    """What in the RPM differs from the plan; empty when it is what the recipe asked for.
    ``scripts``: the scriptlets pkgrun made from the hooks (nfpm's keys), compared byte for byte;
    ``entries``: the staged files, which must be the package's files with their modes;
    ``generated``: the Requires and Provides rpm's generators found, which it must declare."""
    pkg = plan.loaded.recipe.package
    expected = {
        "NAME": pkg.name,
        "EPOCH": str(pkg.epoch),
        "VERSION": plan.version,
        "RELEASE": plan.release,
        "ARCH": pkg.arch,
        "SUMMARY": pkg.summary,
        "LICENSE": pkg.license,
        "URL": pkg.url,
        "PAYLOADCOMPRESSOR": plan.target.payload_compression,
    }
    problems = [
        f"{tag} is {info.header.get(tag)!r}, the recipe says {value!r}"
        for tag, value in expected.items()
        if info.header.get(tag) != value
    ]
    wanted_requires = [
        *plan.requires,
        *plan.hook_requires,
        *(["/bin/sh"] if plan.loaded.recipe.hooks.items() else []),
    ]
    if generated is not None:
        wanted_requires += generated.requires
        if missing := [p for p in generated.provides if p not in info.provides]:
            problems.append(f"Provides lacks {', '.join(missing[:8])}")
    if missing := [r for r in dict.fromkeys(wanted_requires) if r not in info.requires]:
        problems.append(f"Requires lacks {', '.join(missing[:8])}")
    if not info.files:
        problems.append("the package holds no files")
    paths = {f.path for f in info.files}
    marked = {f.path for f in info.files if f.config}
    for path in plan.loaded.recipe.files.config:
        if path not in paths and not any(p.startswith(path + "/") for p in paths):
            problems.append(f"config file {path} is not in the package")
    wanted = config_files(plan.loaded.recipe.files.config, [Entry("f", 0, p) for p in paths])
    if unmarked := sorted(wanted - marked):
        problems.append(f"not marked %config(noreplace): {', '.join(unmarked)}")
    if not_root := [f.path for f in info.files if (f.user, f.group) != ("root", "root")]:
        problems.append(f"not owned by root: {', '.join(not_root[:5])}")
    for hook, _ in plan.loaded.recipe.hooks.items():
        tag = SCRIPT_TAGS.get(hook)
        if tag and not info.scripts.get(tag):
            problems.append(f"the {hook} hook is missing (no %{tag.lower()} scriptlet)")
    if scripts is not None:
        for tag, key in _NFPM_KEYS.items():
            if info.scripts.get(tag, "").rstrip("\n") != scripts.get(key, "").rstrip("\n"):
                problems.append(f"the %{tag.lower()} scriptlet is not the recipe's hook as written")
    if foreign := [tag for tag in FOREIGN_SCRIPT_TAGS if info.scripts.get(tag)]:
        problems.append(f"scriptlets the recipe did not ask for: {', '.join(foreign)}")
    if entries is not None:
        problems += _check_files(info, entries)
    return problems


def _check_files(info: RpmInfo, entries: Sequence[Entry]) -> list[str]:
    """The package holds exactly the staged files and links, with the modes the build gave them."""
    staged = {e.path: e for e in entries}
    packaged = {f.path: f for f in info.files}
    wanted = {e.path for e in entries if e.kind in ("f", "l")}
    problems = []
    if missing := sorted(wanted - set(packaged)):
        problems.append(f"staged but not in the package: {', '.join(missing[:5])}")
    if extra := sorted(p for p in packaged if p not in staged):
        problems.append(f"in the package but never staged: {', '.join(extra[:5])}")
    changed = [
        f"{f.path} ({f.octal & 0o7777:o}, staged {staged[f.path].mode:o})"
        for f in info.files
        if f.path in staged
        and staged[f.path].kind in ("f", "d")
        and f.octal & 0o7777 != staged[f.path].mode & 0o7777
    ]
    if changed:
        problems.append(f"modes differ from the staged files: {', '.join(changed[:5])}")
    return problems


def verify_rpm(
    rpm: Path,
    plan: BuildPlan,
    scripts: Mapping[str, str] | None = None,
    entries: Sequence[Entry] | None = None,
    generated: Generated | None = None,
) -> RpmInfo:
    info = read_rpm(rpm)
    problems = check_rpm(info, plan, scripts, entries, generated)
    if problems:
        raise PkgrunError(
            f"{rpm.name} does not match its recipe: " + "; ".join(problems),
            hint="this is a bug in pkgrun or the packager; the RPM was not kept",
        )
    return info
