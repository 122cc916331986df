"""Read a built RPM back with rpm itself and check it against the plan before anyone uses it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pkgrun.build.autodeps import Generated
from pkgrun.build.nfpm import config_files
from pkgrun.build.plan import BuildPlan
from pkgrun.build.staging import Entry
from pkgrun.errors import PkgrunError
from pkgrun.rpm.query import FOREIGN_SCRIPT_TAGS, SCRIPT_TAGS, RpmInfo, read_rpm

# nfpm's names of the same scriptlets (nfpm.SCRIPT_KEYS), to compare with what pkgrun made
_NFPM_KEYS = {"PREIN": "preinstall", "POSTIN": "postinstall", "PREUN": "preremove", "POSTUN": "postremove"}


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
