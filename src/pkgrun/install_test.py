"""An install test: the new RPM installed into a fresh container of its target, the way a server
would install it, its test commands run, an upgrade from the previously published release, and
a removal that must leave the file system as it found it. A failure blocks the publish.

- **Requirements resolve as on a server.** The package is installed together with the packages
  of the recipes it requires (this run's, else the newest published): on el targets by yum/dnf,
  which resolves the rest from the distribution; on `local` by rpm without --nodeps, beside a
  small package that provides what the Debian image has (its packages' names, and the paths the
  new packages require that exist), so that every requirement is checked and none is assumed.
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

import json
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pkgrun import images
from pkgrun.archive import Item
from pkgrun.container import Container, Engine, Transfers, start_container
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.evr import EVR
from pkgrun.numerals import number
from pkgrun.plan import BuildPlan
from pkgrun.repodata import newest_release
from pkgrun.report import Reporter
from pkgrun.run import find_tool, run
from pkgrun.signing import SigningKey, public_key
from pkgrun.targets import RuntimeDeps
from pkgrun.verify import RpmInfo, read_rpm

NEW_DIR = "/pkgrun/new"
KEY_IN_CONTAINER = "/pkgrun/RPM-GPG-KEY-pkgrun"
REPO_DIR = "/pkgrun/repo"
SHIM_NAME = "pkgrun-system-provides"

# Lists the paths given as arguments that exist (a path is data, never shell text).
_EXISTING = 'for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done'
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


def runtime_requirements(plan: BuildPlan, siblings: Sequence[RpmInfo] = ()) -> list[str]:
    """What the test image needs before the package where requirements are preinstalled
    (`local`): rpm and what the package and its siblings require, as the image's own package
    names; elsewhere nothing (the package manager resolves them)."""
    if plan.target.runtime_deps is not RuntimeDeps.PREINSTALLED:
        return []
    requires = [*plan.requires, *plan.hook_requires, *(r for s in siblings for r in s.requires)]
    # apt takes names, not "x >= 1"; a path (/bin/sh) is a file the image has or lacks
    names = {r.split()[0] for r in requires if not r.startswith("/")}
    recipe_packages = {s.header["NAME"] for s in siblings} | set(plan.loaded.recipe.recipe_requires)
    return sorted({"rpm", *names} - recipe_packages)


def previous_release(plan: BuildPlan, info: RpmInfo, repo_root: Path) -> Path | None:
    """The newest published release of the package older than the new one, if any."""
    header = info.header
    new = EVR(number(header["EPOCH"]) or 0, header["VERSION"], header["RELEASE"])
    return newest_release(repo_root, plan.target.dist, header["NAME"], older_than=new)


def shim_config(provides: Sequence[str]) -> dict[str, object]:
    """nfpm's configuration of the package that tells rpm what the Debian image provides."""
    return {
        "name": SHIM_NAME,
        "arch": "noarch",
        "version": "1",
        "release": "1",
        "version_schema": "none",
        "maintainer": "pkgrun",
        "description": "What this image's own packages provide, for rpm's dependency checks",
        "license": "MIT",
        "provides": list(provides),
        "rpm": {"summary": "what the image provides"},
    }


def run_install_test(
    plan: BuildPlan,
    rpm: Path,
    info: RpmInfo,
    *,
    engine: Engine,
    repo_root: Path,
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
    base = images.ensure_base_image(
        engine,
        target,
        target.runtime_containerfile,
        log=log,
        reporter=reporter,
        recipe=name,
        cache_dir=cache_dir,
    )
    image = images.ensure_build_image(
        engine,
        target,
        target.runtime_containerfile,
        base,
        runtime_requirements(plan, sibling_infos),
        log=log,
        reporter=reporter,
        recipe=name,
        kind="runtime",
    )
    previous = previous_release(plan, info, repo_root)
    items = [Item(f"{NEW_DIR}/{rpm.name}", source=rpm)]
    items += [Item(f"{NEW_DIR}/{sibling.name}", source=sibling) for sibling in siblings]
    if previous is not None:
        items.append(Item(f"{REPO_DIR}/{previous.name}", source=previous))
    if key is not None:
        items.append(Item(KEY_IN_CONTAINER, data=public_key(key).encode()))
    report = InstallTestReport(upgraded_from=previous.name if previous else None)
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
            test.install_provides([info, *sibling_infos])
        install = list(target.install_rpm)
        if key is not None:
            # only what verifies is installed: rpm checks every file; yum and dnf too, with gpgcheck
            test.step("import the signing key", ["rpm", "--import", KEY_IN_CONTAINER])
            everything = [f"{NEW_DIR}/{rpm.name}", *(f"{NEW_DIR}/{s.name}" for s in siblings)]
            everything += [f"{REPO_DIR}/{previous.name}"] if previous is not None else []
            test.step(
                "verify the signatures",
                ["sh", "-c", _CHECKSIG, "sh", "|".join(sorted(i[-8:] for i in key.signer_ids)), *everything],
                hint="a package is unsigned, signed with another key, or changed after it was signed: "
                "sign the repository (pkgrun repo sign) or build it again",
            )
            if target.runtime_deps is RuntimeDeps.PACKAGE_MANAGER:
                install.append("--setopt=localpkg_gpgcheck=1")
        with_siblings = [f"{NEW_DIR}/{sibling.name}" for sibling in siblings]
        hint = (
            "a requirement did not resolve: check [requires] (the image's package names, or recipes = [...])"
        )
        if previous is not None:
            test.step(
                f"install the published {previous.name}",
                [*install, f"{REPO_DIR}/{previous.name}", *with_siblings],
                hint,
            )
            test.step(f"upgrade to {rpm.name}", [*install, f"{NEW_DIR}/{rpm.name}"], hint)
        else:
            test.step(f"install {rpm.name}", [*install, f"{NEW_DIR}/{rpm.name}", *with_siblings], hint)
        test.check_libraries(info)
        for command in plan.loaded.recipe.test.commands:
            test.step(f"test: {command}", ["sh", "-c", "--", command])
        test.step("remove", ["rpm", "-e", info.header["NAME"]])
        test.check_nothing_left()
    return report


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
            if "scriptlet failed" in output:
                raise InstallTestFailed(self.name, label, command, output, hint)
            with self.log.open("a") as fh:
                fh.write(f"+ [{label}] {shlex.join(command)}\n{output}")
            return output

    def install_provides(self, infos: Sequence[RpmInfo]) -> None:
        """Install the package that provides, to rpm, the Debian image's packages and the paths
        the new packages require that the image has."""
        names = self.container.capture(["dpkg-query", "-W", "-f", "${Package}\\n"]).stdout.split()
        paths = sorted({r for info in infos for r in info.requires if r.startswith("/")})
        present = (
            self.container.capture(["sh", "-c", _EXISTING, "sh", *paths]).stdout.split() if paths else []
        )
        with tempfile.TemporaryDirectory(prefix="pkgrun-shim-") as tmp:
            config = Path(tmp) / "nfpm.json"
            config.write_text(json.dumps(shim_config([*names, *present])))
            shim = Path(tmp) / f"{SHIM_NAME}.rpm"
            run(
                [
                    find_tool("nfpm"),
                    "package",
                    "--config",
                    str(config),
                    "--packager",
                    "rpm",
                    "--target",
                    str(shim),
                ]
            )
            self.container.put([Item(f"{NEW_DIR}/shim/{shim.name}", source=shim)])
        self.step(
            "tell rpm what the image provides", ["rpm", "-i", "--nodeps", f"{NEW_DIR}/shim/{shim.name}"]
        )

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
