"""Read a built RPM back with rpm itself and check it against the plan before anyone uses it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
)
SCRIPT_TAGS = {
    "before-install": "PREIN",
    "after-install": "POSTIN",
    "before-remove": "PREUN",
    "after-remove": "POSTUN",
}
_SEP = "\x1f"  # between fields: no header value holds it
_RPM_HINT = "install rpm (Debian/Ubuntu: apt-get install rpm) to read built packages back"


@dataclass(frozen=True)
class RpmFile:
    path: str
    mode: str  # as rpm prints it: -rwxr-xr-x
    user: str
    group: str
    config: bool


@dataclass(frozen=True)
class RpmInfo:
    header: dict[str, str]
    requires: list[str]
    files: list[RpmFile]
    scripts: dict[str, str]  # PREIN ... -> body, "" when absent
    size: int  # of the .rpm file

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
    requires = [line.strip() for line in query("[%{REQUIREFLAGS:deptype}\t%{REQUIRENEVRS}\n]").splitlines()]
    # keep what the package asked for, not what rpm adds (rpmlib(...), the scriptlets' /bin/sh)
    requires = [r.split("\t", 1)[1] for r in requires if r.startswith("manual\t")]
    files = []
    for line in query(
        "[%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILENAMES}\n]"
    ).splitlines():
        flags, mode, user, group, path = line.split("\t", 4)
        files.append(RpmFile(path, mode, user, group, "c" in flags))
    scripts = {}
    for tag in SCRIPT_TAGS.values():
        body = query(f"%{{{tag}}}")
        scripts[tag] = "" if body == "(none)" else body
    return RpmInfo(header, requires, files, scripts, rpm.stat().st_size)


def check_rpm(info: RpmInfo, plan: BuildPlan) -> list[str]:
    """What in the RPM differs from the plan; empty when it is what the recipe asked for."""
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
    missing = [r for r in plan.requires if r not in info.requires]
    if missing:
        problems.append(f"Requires lacks {', '.join(missing)}")
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
    return problems


def verify_rpm(rpm: Path, plan: BuildPlan) -> RpmInfo:
    info = read_rpm(rpm)
    problems = check_rpm(info, plan)
    if problems:
        raise PkgrunError(
            f"{rpm.name} does not match its recipe: " + "; ".join(problems),
            hint="this is a bug in pkgrun or the packager; the RPM was not kept",
        )
    return info
