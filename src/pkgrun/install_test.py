"""An install test: the new RPM installed into a fresh container of its target, its test
commands run, an upgrade from the previously published release, and a removal that must
leave none of its files behind. A failure blocks the publish.

Every step is a command in the container; its output is kept, and a failure names the step,
the command and what it printed. Hooks must succeed at every step: rpm reports a failed
scriptlet but may still exit 0, so its output is checked too.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pkgrun import images
from pkgrun.archive import Item
from pkgrun.container import Engine, start_container
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.evr import EVR
from pkgrun.plan import BuildPlan
from pkgrun.repodata import newest_release
from pkgrun.report import Reporter
from pkgrun.targets import RuntimeDeps
from pkgrun.verify import RpmInfo, read_rpm

NEW_DIR = "/pkgrun/new"
REPO_DIR = "/pkgrun/repo"

# Lists the paths given as arguments that still exist (a path is data, never shell text).
_LEFTOVERS = 'for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done'


class InstallTestFailed(PkgrunError):
    def __init__(self, name: str, step: str, command: Sequence[str], output: str) -> None:
        self.step = step
        self.command = list(command)
        self.output = output
        super().__init__(
            f"install test of {name} failed at '{step}': {shlex.join(self.command)}",
            hint="the package was not published; its output is above and in the build log",
        )


@dataclass
class InstallTestReport:
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, command)
    upgraded_from: str | None = None


def runtime_requirements(plan: BuildPlan, siblings: Sequence[RpmInfo] = ()) -> list[str]:
    """What the test image needs before the package: where requirements are preinstalled
    (`local`), rpm and the runtime libraries of the package and its siblings (as the image's own
    package names: rpm installs with --nodeps); elsewhere the package manager resolves them."""
    if plan.target.runtime_deps is not RuntimeDeps.PREINSTALLED:
        return []
    requires = [*plan.requires, *(r for s in siblings for r in s.requires)]
    names = {r.split()[0] for r in requires}  # apt takes names, not "x >= 1"
    # a sibling is an RPM of this run, given to rpm beside the package, not an apt package
    return sorted({"rpm", *names} - {s.header["NAME"] for s in siblings})


def previous_release(plan: BuildPlan, info: RpmInfo, repo_root: Path) -> Path | None:
    """The newest published release of the package older than the new one, if any."""
    header = info.header
    new = EVR(int(header["EPOCH"]) if header["EPOCH"].isdigit() else 0, header["VERSION"], header["RELEASE"])
    return newest_release(repo_root, plan.target.dist, header["NAME"], older_than=new)


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
) -> InstallTestReport:
    """``siblings``: packages of the same run the new one may need (its [build] recipes'),
    installed together with it."""
    target, name = plan.target, plan.name
    sibling_infos = [read_rpm(s) for s in siblings] if target.runtime_deps is RuntimeDeps.PREINSTALLED else []
    base = images.ensure_base_image(
        engine, target, target.runtime_containerfile, log=log, reporter=reporter, recipe=name
    )
    image = images.ensure_build_image(
        engine,
        target,
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
    report = InstallTestReport(upgraded_from=previous.name if previous else None)
    with start_container(
        engine,
        f"{name}-test",
        image,
        keep=keep_container,
        network=target.install_test_network,
        labels={"io.pkgrun.recipe": name},
    ) as container:
        container.put(items)

        def step(label: str, command: Sequence[str]) -> str:
            report.steps.append((label, shlex.join(command)))
            with reporter.step(name, f"install test: {label}"):
                try:
                    result = container.capture(command)
                    output = result.stdout + result.stderr
                except CommandFailed as exc:
                    raise InstallTestFailed(name, label, command, exc.output) from None
                if "scriptlet failed" in output:
                    raise InstallTestFailed(name, label, command, output)
                with log.open("a") as fh:
                    fh.write(f"+ [{label}] {shlex.join(command)}\n{output}")
                return output

        def run_tests(when: str) -> None:
            for command in plan.loaded.recipe.test.commands:
                step(f"{when}: {command}", ["sh", "-c", command])

        install = list(target.install_rpm)
        with_siblings = [f"{NEW_DIR}/{sibling.name}" for sibling in siblings]
        if previous is not None:
            step(
                f"install the published {previous.name}",
                [*install, f"{REPO_DIR}/{previous.name}", *with_siblings],
            )
            step(f"upgrade to {rpm.name}", [*install, f"{NEW_DIR}/{rpm.name}"])
        else:
            step(f"install {rpm.name}", [*install, f"{NEW_DIR}/{rpm.name}", *with_siblings])
        run_tests("test")
        step("remove", ["rpm", "-e", info.header["NAME"]])
        left = step("nothing left behind", ["sh", "-c", _LEFTOVERS, "sh", *(f.path for f in info.files)])
        if left.strip():
            _fail_leftovers(name, left)
    return report


def _fail_leftovers(name: str, left: str) -> None:
    paths = left.split()
    raise InstallTestFailed(
        name,
        "nothing left behind",
        ["rpm", "-e", name],
        f"{len(paths)} path(s) of the package remain after its removal:\n" + "\n".join(paths[:20]),
    )
