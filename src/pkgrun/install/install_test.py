"""An install test: the new RPM installed into a fresh container of its target, the way a server
would install it, its test commands run, an upgrade from the previously published release, and
a removal that must leave the file system as it found it. A failure blocks the publish.

- **Installed by name, as a server does** (byname.py). The new package is offered from a
  repository of its own, with the packages of the recipes it requires (this run's, else the
  newest published), and the published release from another, both with the settings of
  pkgrun's .repo files; the target's package manager installs it by name with the image's own
  repositories enabled (the distribution's and EPEL on el targets), then upgrades it by name
  from the published release. The package that lands must be the NEVRA pkgrun built; when it
  is not, the failure says which repository won and why. On `local`, a small package first
  tells rpm what the Debian image has (its packages' names, the paths and the sonames the new
  packages require that exist), so that every requirement is checked and none is assumed.
- **Shared libraries are found.** Every ELF file of the package must find every library it
  needs (ldd), as omnibus's health check does; a missing one names the file and the library.
- **Nothing is left behind.** The file system is listed before the install and after the
  removal; a path that appeared and no installed package owns is a leftover (a directory rpm
  made for the package's files, a file a hook or the program made). Logs, data, caches of the
  system's own tools and run-time directories are not compared (see _NOT_COMPARED).

Every step is a command in the container; its output is kept, and a failure names the step,
the command and what it printed. Hooks must succeed at every step: rpm reports a failed
scriptlet but may still exit 0, so its output is checked too.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pkgrun.archive import Item
from pkgrun.build.plan import BuildPlan
from pkgrun.engine import images
from pkgrun.engine.container import Container, Engine, Transfers, start_container
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.install import shim
from pkgrun.install.byname import (
    NEW_REPO,
    PUBLISHED_REPO,
    Offer,
    competitors,
    explain,
    install_argv,
    installed_argv,
    offers_argv,
    parse_offers,
    repo_text,
)
from pkgrun.install.byname import (
    REPO_FILE as BY_NAME_REPO_FILE,
)
from pkgrun.numerals import number
from pkgrun.repo.data import DistView
from pkgrun.report import Reporter
from pkgrun.rpm.evr import EVR
from pkgrun.rpm.query import RpmInfo, read_rpm
from pkgrun.run import run
from pkgrun.targets import RuntimeDeps, Target, apt_installable
from pkgrun.trust.signing import SigningKey, public_key

KEY_IN_CONTAINER = "/pkgrun/RPM-GPG-KEY-pkgrun"
TEST_REPOS_DIR = "/pkgrun/repos"
# For each regular ELF file given, the libraries ldd does not find, as "file<TAB>library".
_MISSING_LIBRARIES = """for f in "$@"; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  [ "$(dd if="$f" bs=1 skip=1 count=3 2>/dev/null)" = ELF ] || continue
  ldd "$f" 2>/dev/null | while read -r lib arrow where rest; do
    if [ "$where" = not ] || [ "$arrow" = not ]; then printf '%s\\t%s\\n' "$f" "$lib"; fi
  done
done
"""
# What a package's life may change that is not its own: the system's logs, data and caches,
# run-time directories, the package databases, the backups useradd and groupadd keep of the
# user databases, the dynamic linker's cache, this test's own files.
_NOT_COMPARED = (
    "/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/var/log", "/var/lib", "/var/cache",
    "/var/spool", "/var/www", "/srv", "/home", "/root", "/usr/lib/sysimage", "/pkgrun",
    "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-",
    "/etc/ld.so.cache",
)  # fmt: skip
# Every package must carry a valid signature by the key ($1: the short IDs it signs with, as
# "id|id"; an extended regular expression of hex digits only): `rpm -K` alone
# passes an unsigned package (rpm 4.14+ asks for signatures only with _pkgverify_level, which
# CentOS 7's rpm lacks), so the key's "OK" is looked for in what rpm says of each package.
_CHECKSIG = r"""
key=$1; shift; status=0
for rpm in "$@"; do
    out=$(rpm -Kv "$rpm" 2>&1); rc=$?
    printf '%s\n' "$out"
    if [ "$rc" -ne 0 ] || ! printf '%s\n' "$out" | grep -qiE "key ID ($key): OK"; then
        echo "$rpm: no valid signature by key $key"; status=1
    fi
done
exit $status
"""
_SNAPSHOT = (
    "find / -xdev \\( " + " -o ".join(f"-path {p}" for p in _NOT_COMPARED) + " \\) -prune -o -print"
    ' | LC_ALL=C sort > "$1"'
)
# The paths that appeared since the snapshot in $1 and that no installed package owns.
_LEFT_BEHIND = (
    "find / -xdev \\( " + " -o ".join(f"-path {p}" for p in _NOT_COMPARED) + " \\) -prune -o -print"
    ' | LC_ALL=C sort > "$1.after"; '
    'rpm -qa --qf "[%{FILENAMES}\\n]" | LC_ALL=C sort -u > "$1.owned"; '
    'LC_ALL=C comm -13 "$1" "$1.after" | LC_ALL=C comm -23 - "$1.owned"'
)


class InstallTestFailed(PkgrunError):
    def __init__(
        self,
        name: str,
        step: str,
        command: Sequence[str],
        output: str,
        hint: str | None = None,
        failed: CommandFailed | None = None,  # the engine command that failed, if one did
    ) -> None:
        self.step, self.failed = step, failed
        self.command = list(command)
        self.output = output
        super().__init__(
            f"install test of {name} failed at '{step}': {shlex.join(self.command)}",
            hint=hint or "the package was not published; its output is above and in the build log",
        )


@dataclass
class InstallTestReport:
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, command)
    upgraded_from: str | None = None
    # the other repositories' packages of the name, newest first
    competitors: list[Offer] = field(default_factory=list)


def runtime_requirements(plan: BuildPlan, offered: Sequence[RpmInfo] = ()) -> list[str]:
    """What the test image needs before the package where requirements are preinstalled
    (`local`): rpm, dnf (which installs by name) and what the package and the packages offered
    with it require, as the image's own package names; elsewhere nothing (the package manager
    resolves them)."""
    if plan.target.runtime_deps is not RuntimeDeps.PREINSTALLED:
        return []
    requires = [*plan.requires, *plan.hook_requires, *(r for s in offered for r in s.requires)]
    # apt takes names, not "x >= 1"; a path (/bin/sh) is a file the image has or lacks, and a
    # generated capability (libc.so.6()(64bit)) a soname it has or lacks (shim.py)
    names = {r.split()[0] for r in requires if apt_installable(r)}
    recipe_packages = {s.header["NAME"] for s in offered} | set(plan.loaded.recipe.recipe_requires)
    return sorted({"rpm", "dnf", *names} - recipe_packages)


def one_line(command: str) -> str:
    """A test command as a step's label: its first line, and an ellipsis when it has more (pure)."""
    lines = [line.strip() for line in command.strip().splitlines()]
    return lines[0] + (" …" if len(lines) > 1 else "") if lines else command


def previous_release(info: RpmInfo, published: DistView) -> Path | None:
    """The newest published release of the package older than the new one, if any."""
    header = info.header
    new = EVR(number(header["EPOCH"]) or 0, header["VERSION"], header["RELEASE"])
    return published.newest(header["NAME"], older_than=new)


def run_install_test(
    plan: BuildPlan,
    rpm: Path,
    info: RpmInfo,
    *,
    engine: Engine,
    published: DistView,
    log: Path,
    reporter: Reporter,
    siblings: Sequence[Path] = (),
    keep_container: bool = False,
    key: SigningKey | None = None,
    cache_dir: Path | None = None,
    transfers: Transfers | None = None,
) -> InstallTestReport:
    """``siblings``: the packages of the recipes the new one requires, installed with it.
    ``key``: the packages must carry its valid signature; rpm checks each, and on el targets
    yum/dnf installs them with gpgcheck on."""
    target, name = plan.target, plan.name
    sibling_infos = [read_rpm(s) for s in siblings]
    previous = previous_release(info, published)
    previous_info = read_rpm(previous) if previous is not None else None
    report = InstallTestReport(upgraded_from=previous.name if previous else None)
    offered = offered_packages(rpm, info, siblings, sibling_infos, previous, previous_info, published)
    offered_infos = [read_rpm(path) for paths in offered.values() for path in paths]
    image = test_image(plan, offered_infos, engine, log, reporter, cache_dir)
    with tempfile.TemporaryDirectory(prefix="pkgrun-test-repos-") as tmp:
        items = offer_repositories(Path(tmp), offered, target.metadata_compression)
        if key is not None:
            items.append(Item(KEY_IN_CONTAINER, data=public_key(key).encode()))
        repos = [(repo_id, f"{TEST_REPOS_DIR}/{repo_id}") for repo_id in offered]
        repo_file = repo_text(target, repos, KEY_IN_CONTAINER if key is not None else None)
        items.append(Item(BY_NAME_REPO_FILE, data=repo_file.encode()))
        with start_container(
            engine,
            f"{name}-test",
            image,
            keep=keep_container,
            network=target.install_test_network,
            transfers=transfers,
        ) as container:
            container.put(items)
            test = _Steps(container, name, log, reporter, report)
            test.step("list the file system", ["sh", "-c", _SNAPSHOT, "sh", "/pkgrun/before"])
            if target.runtime_deps is RuntimeDeps.PREINSTALLED:
                shim.install(container, test.step, offered_infos)
            if key is not None:
                test.verify_signatures(
                    key, [f"{TEST_REPOS_DIR}/{r}/{p.name}" for r, ps in offered.items() for p in ps]
                )
            package = info.header["NAME"]
            if previous_info is not None:
                test.install_by_name(target, package, previous_info.nevra, only=PUBLISHED_REPO)
                test.install_by_name(target, package, info.nevra, upgrade=True)
            else:
                test.install_by_name(target, package, info.nevra)
            test.check_libraries(info)
            for command in plan.loaded.recipe.test.commands:
                test.step(f"test: {one_line(command)}", ["sh", "-c", "--", command])
            test.step("remove", ["rpm", "-e", package])
            test.check_nothing_left()
    return report


def test_image(
    plan: BuildPlan,
    offered: Sequence[RpmInfo],
    engine: Engine,
    log: Path,
    reporter: Reporter,
    cache_dir: Path | None,
) -> str:
    """The target's runtime image, with what ``offered`` needs preinstalled where requirements
    are the image's own packages (`local`)."""
    base = images.ensure_base_image(
        engine,
        plan.target,
        plan.target.runtime_containerfile,
        log=log,
        reporter=reporter,
        recipe=plan.name,
        cache_dir=cache_dir,
    )
    return images.ensure_build_image(
        engine,
        plan.target,
        plan.target.runtime_containerfile,
        base,
        runtime_requirements(plan, offered),
        log=log,
        reporter=reporter,
        recipe=plan.name,
        kind="runtime",
    )


def offered_packages(
    rpm: Path,
    info: RpmInfo,
    siblings: Sequence[Path],
    sibling_infos: Sequence[RpmInfo],
    previous: Path | None,
    previous_info: RpmInfo | None,
    published: DistView,
) -> dict[str, list[Path]]:
    """pkgrun's packages offered as a server is offered them, by repository: the new build with
    the packages of the recipes it requires (this run's builds, or the published ones); and the
    repository as it is published: the previous release, with what the published repository
    holds that it and the new packages require (a library's soname, the siblings' published
    releases), as a server that upgrades has it."""
    offered = {NEW_REPO: [rpm, *siblings]}
    infos = [info, *sibling_infos, *([previous_info] if previous_info else [])]
    needed = [r for i in infos for r in i.requires]
    providing = [p for p in published.providers(needed, skip={info.header["NAME"]}) if p != previous]
    if previous is not None or providing:
        offered[PUBLISHED_REPO] = [*([previous] if previous else []), *providing]
    return offered


def offer_repositories(where: Path, offered: Mapping[str, Sequence[Path]], compression: str) -> list[Item]:
    """Each repository of ``offered`` (id -> its packages) made under ``where`` with its
    metadata (createrepo_c), as the items that put it under TEST_REPOS_DIR in the container."""
    items = []
    for repo_id, rpms in offered.items():
        directory = where / repo_id
        directory.mkdir()
        for path in rpms:
            shutil.copyfile(path, directory / path.name)
        run(offer_repo_argv(directory, compression), hint="createrepo_c comes with pkgrun's Python package")
        items += [
            Item(f"{TEST_REPOS_DIR}/{repo_id}/{file.relative_to(directory).as_posix()}", source=file)
            for file in sorted(directory.rglob("*"))
            if file.is_file()
        ]
    return items


def offer_repo_argv(directory: Path, compression: str) -> list[str]:
    return [
        "createrepo_c", "--quiet", "--no-database", "--general-compress-type", compression, str(directory),
    ]  # fmt: skip


class _Steps:
    """The install test's steps in one container: each a command, reported, logged, and a failure
    (a non-zero exit or a failed scriptlet) told with its output."""

    def __init__(
        self, container: Container, name: str, log: Path, reporter: Reporter, report: InstallTestReport
    ) -> None:
        self.container, self.name, self.log, self.reporter, self.report = (
            container,
            name,
            log,
            reporter,
            report,
        )

    def step(self, label: str, command: Sequence[str], hint: str | None = None) -> str:
        self.report.steps.append((label, shlex.join(command)))
        with self.reporter.step(self.name, f"install test: {label}"):
            try:
                result = self.container.capture(command)
                output = result.stdout + result.stderr
            except CommandFailed as exc:
                raise InstallTestFailed(self.name, label, command, exc.output, hint, failed=exc) from None
            # rpm's words, and dnf's (which may still exit 0 after a failed %post)
            if "scriptlet failed" in output or re.search(r"Error in \S+ scriptlet", output):
                raise InstallTestFailed(self.name, label, command, output, hint)
            with self.log.open("a") as fh:
                fh.write(f"+ [{label}] {shlex.join(command)}\n{output}")
            return output

    def verify_signatures(self, key: SigningKey, rpms: Sequence[str]) -> None:
        """Only what verifies is installed: rpm checks every file (yum and dnf check again, with
        gpgcheck)."""
        self.step("import the signing key", ["rpm", "--import", KEY_IN_CONTAINER])
        self.step(
            "verify the signatures",
            ["sh", "-c", _CHECKSIG, "sh", "|".join(sorted(i[-8:] for i in key.signer_ids)), *rpms],
            hint="a package is unsigned, signed with another key, or changed after it was signed: "
            "sign the repository (pkgrun repo sign) or build it again",
        )

    def install_by_name(
        self, target: Target, name: str, nevra: str, *, upgrade: bool = False, only: str | None = None
    ) -> None:
        """Install (or upgrade) ``name`` by name, as a server does, and fail unless the package
        that lands is ``nevra``: then the repositories' offers say which won and why."""
        verb = "upgrade" if upgrade else "install"
        where = "the published release's repository" if only == PUBLISHED_REPO else "pkgrun's repositories"
        command = install_argv(target, name, upgrade=upgrade, only=only)
        self.step(
            f"{verb} {name} by name from {where}, the image's repositories enabled",
            command,
            "a requirement did not resolve: check [requires] (the image's package names, or recipes = "
            "[...]) and the generated sonames ([autodeps]) in the output above",
        )
        query = self.container.capture(installed_argv(name), check=False)
        landed = query.stdout.strip() if query.returncode == 0 else "nothing"
        every, failed = self.offers(offers_argv(target, name, unfiltered=True))
        if failed is None:  # the record `pkgrun check` reads; not from a question that failed
            self.report.competitors = competitors(every)
        if landed == nevra:
            return
        visible, failed_too = self.offers(offers_argv(target, name))
        if failed or failed_too:
            why = f"the repositories' offers could not be listed: {failed or failed_too}"
            hint = "see the package manager's output above"
        else:
            why = explain(name, nevra, landed, visible, every)
            hint = (
                "keep pkgrun's .repo settings (priority, module_hotfixes) on the servers, or give the "
                "recipe an epoch above the other repository's ([package] epoch)"
            )
        raise InstallTestFailed(
            self.name,
            f"{verb} {name} by name",
            command,
            f"{landed} was installed, not pkgrun's {nevra}: {why}\noffers:\n"
            + "\n".join(f"  {o.repo}: {o.nevra}" for o in every),
            hint=hint,
        )

    def offers(self, command: Sequence[str]) -> tuple[list[Offer], str | None]:
        """What the repositories offer, and why the question failed (None when it did not)."""
        result = self.container.capture(command, check=False)
        if result.returncode != 0:
            said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            return [], f"{shlex.join(command)} exited {result.returncode}: {said[:300]}"
        return parse_offers(result.stdout), None

    def check_libraries(self, info: RpmInfo) -> None:
        files = [f.path for f in info.files if f.mode.startswith("-")]
        if not files:
            return
        missing = self.step("every library is found", ["sh", "-c", _MISSING_LIBRARIES, "sh", *files])
        if missing.strip():
            lines = [line.replace("\t", " needs ") for line in missing.strip().splitlines()]
            raise InstallTestFailed(
                self.name,
                "every library is found",
                ["ldd", *files[:3], "..."],
                "libraries that no installed package provides:\n" + "\n".join(lines[:20]),
                hint="require the package that provides each library in [requires] (recipes = [...] for "
                "another recipe's), or link it statically",
            )

    def check_nothing_left(self) -> None:
        left = self.step("nothing left behind", ["sh", "-c", _LEFT_BEHIND, "sh", "/pkgrun/before"])
        paths = left.strip().splitlines()
        if paths:
            raise InstallTestFailed(
                self.name,
                "nothing left behind",
                ["rpm", "-e", self.name],
                f"{len(paths)} path(s) appeared with the package and remain after its removal, owned by "
                "no package:\n" + "\n".join(paths[:20]),
                hint="own the directories the package's files need in [files] directories, and remove what "
                "the hooks or the program make in an after-remove hook (on erase: $1 is 0)",
            )
