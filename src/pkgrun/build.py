"""One recipe from source to a verified RPM, in a disposable container.

``build_recipe`` reads like the plan it runs: fetch, image, container, unpack, build, stage,
package, verify, lint, install test, deliver. Every step is reported (and timed) by the
reporter; all output goes to the build's log. The RPM is written to a private directory and
moved into the output directory only once rpm has read it back, it matches the recipe, and it
passed rpmlint's failing checks and its install test.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pkgrun import __version__, images
from pkgrun.container import Container, Engine, Mount, start_container
from pkgrun.errors import PkgrunError, UsageError
from pkgrun.fpm import FpmPaths, fpm_argv, spec_escape
from pkgrun.install_test import InstallTestReport, run_install_test
from pkgrun.lint import LintResult, lint_rpm
from pkgrun.nfpm import fpm_style_scripts, nfpm_config
from pkgrun.plan import (
    CONTAINER_DESTDIR,
    CONTAINER_HOOKS_DIR,
    CONTAINER_OUT_DIR,
    CONTAINER_RECIPE_DIR,
    CONTAINER_SOURCE_DIR,
    CONTAINER_SRCDIR,
    CONTAINER_TOOLS_DIR,
    CONTAINER_WORKDIR,
    BuildPlan,
)
from pkgrun.report import Reporter
from pkgrun.run import find_tool
from pkgrun.sources import fetch_source
from pkgrun.staging import (
    Entry,
    expand_directories,
    find_argv,
    owned_directories,
    parse_listing,
    unsafe_names,
)
from pkgrun.verify import RpmInfo, verify_rpm


class Packager(StrEnum):
    FPM = "fpm"
    NFPM = "nfpm"


@dataclass(frozen=True)
class BuildContext:
    """Run state around one plan: where things go and how they run."""

    plan: BuildPlan
    engine: Engine
    packager: Packager
    packager_path: str | None  # nfpm's binary on the host, mounted into the container
    out_dir: Path
    cache_dir: Path
    log: Path
    mirrors: Sequence[str] = ()
    keep_container: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    repo_root: Path | None = None  # where the previous release for the upgrade test is found
    dependencies: Sequence[Path] = ()  # RPMs of [build] recipes, installed before the build script
    install_test: bool = True
    lint: bool = True


@dataclass(frozen=True)
class BuildResult:
    plan: BuildPlan
    rpm: Path
    info: RpmInfo
    packager: Packager
    seconds: float
    log: Path
    lint: LintResult | None = None
    install_test: InstallTestReport | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.plan.name,
            "nevra": self.info.nevra,
            "rpm": str(self.rpm),
            "size": self.info.size,
            "files": len(self.info.files),
            "requires": self.info.requires,
            "packager": self.packager.value,
            "target": self.plan.target.name,
            "seconds": round(self.seconds, 1),
            "log": str(self.log),
            "rpmlint": [str(f) for f in self.lint.findings] if self.lint else None,
            "install_test": None
            if self.install_test is None
            else {
                "steps": [label for label, _ in self.install_test.steps],
                "upgraded_from": self.install_test.upgraded_from,
            },
        }


def choose_packager(choice: str | None, plan: BuildPlan) -> tuple[Packager, str | None]:
    """fpm where the target's build image carries it, nfpm otherwise (or as asked). Fails
    before any work when the choice cannot be honoured."""
    target = plan.target
    packager = Packager(choice) if choice else (Packager.FPM if target.has_fpm else Packager.NFPM)
    if packager is Packager.FPM:
        if not target.has_fpm:
            raise UsageError(
                f"the {target.name} build image carries no fpm",
                hint="use --packager nfpm (it makes the same RPM), or an el target",
            )
        return packager, None
    if plan.loaded.recipe.fpm.args:
        raise UsageError(
            f"{plan.name} passes fpm flags ({' '.join(plan.loaded.recipe.fpm.args)}) that nfpm cannot honour",
            hint="build it with --packager fpm on an el target, or model the flag in the recipe",
        )
    path = find_tool("nfpm", hint="nfpm comes with pkgrun's Python package: reinstall pkgrun (make setup)")
    return packager, path


def default_log_path(env: Mapping[str, str], plan: BuildPlan) -> Path:
    """$XDG_STATE_HOME/pkgrun/logs/NAME-VERSION-RELEASE-TIME.log"""
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(base) / "pkgrun" / "logs" / f"{plan.name}-{plan.version}-{plan.release}-{stamp}.log"


def build_recipe(ctx: BuildContext, reporter: Reporter) -> BuildResult:
    plan = ctx.plan
    name = plan.name
    started = time.monotonic()
    ctx.log.parent.mkdir(parents=True, exist_ok=True)
    ctx.log.write_text(f"pkgrun {__version__}: {plan.nevra} for {plan.target.name} with {ctx.packager}\n")
    reporter.note(
        name,
        f"packager: {ctx.packager} "
        f"({'the build image carries fpm' if ctx.packager is Packager.FPM else 'static binary, mounted'})",
    )

    with reporter.step(name, f"fetch {plan.source.filename}"):
        source = fetch_source(
            plan.source,
            recipe=name,
            cache_dir=ctx.cache_dir,
            mirrors=ctx.mirrors,
            env=ctx.env,
            reporter=reporter,
        )
    with reporter.step(name, "prepare the build image"):
        base = images.ensure_base_image(
            ctx.engine, plan.target, plan.target.containerfile, log=ctx.log, reporter=reporter, recipe=name
        )
        image = images.ensure_build_image(
            ctx.engine, plan.target, base, plan.build_requires, log=ctx.log, reporter=reporter, recipe=name
        )

    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    # A private directory inside the output directory: the RPM appears in out_dir by a rename,
    # whole and verified, or not at all.
    with tempfile.TemporaryDirectory(prefix=".pkgrun-", dir=ctx.out_dir) as private:
        out_tmp, tools = Path(private) / "out", Path(private) / "tools"
        out_tmp.mkdir()
        tools.mkdir()
        mounts = [
            Mount(plan.loaded.directory.resolve(), CONTAINER_RECIPE_DIR),
            Mount(source.resolve(), f"{CONTAINER_SOURCE_DIR}/{plan.source.filename}"),
            Mount(tools.resolve(), CONTAINER_TOOLS_DIR),
            Mount(out_tmp.resolve(), CONTAINER_OUT_DIR, read_only=False),
        ]
        if ctx.packager_path:
            mounts.append(Mount(Path(ctx.packager_path).resolve(), NFPM_IN_CONTAINER))
        mounts += [Mount(rpm.resolve(), f"{DEPENDENCIES_DIR}/{rpm.name}") for rpm in ctx.dependencies]
        with start_container(
            ctx.engine, name, image, mounts, keep=ctx.keep_container, labels={"io.pkgrun.recipe": name}
        ) as container:
            reporter.note(name, f"container {container.name} from {image}, no network")
            entries = _build_in_container(ctx, reporter, container, tools)
        rpm_tmp = out_tmp / plan.rpm.name
        with reporter.step(name, "read the RPM back and check it"):
            if not rpm_tmp.is_file():
                raise PkgrunError(f"the packager made no {plan.rpm.name}", hint=f"see {ctx.log}")
            # the scriptlets are the hooks as written and the files are what was staged,
            # whatever the build script did to the container the packager ran in
            info = verify_rpm(rpm_tmp, plan, fpm_style_scripts(hook_texts(plan)), entries)
        lint = check_lint(ctx, reporter, rpm_tmp) if ctx.lint else None
        tested = None
        if ctx.install_test:
            tested = run_install_test(
                plan,
                rpm_tmp,
                info,
                engine=ctx.engine,
                repo_root=ctx.repo_root or Path("repo"),
                log=ctx.log,
                reporter=reporter,
                keep_container=ctx.keep_container,
            )
        final = ctx.out_dir / plan.rpm.name
        os.replace(rpm_tmp, final)
    return BuildResult(plan, final, info, ctx.packager, time.monotonic() - started, ctx.log, lint, tested)


def check_lint(ctx: BuildContext, reporter: Reporter, rpm: Path) -> LintResult:
    """rpmlint's findings; the checks the recipe lists in [lint] fail fail the build."""
    name = ctx.plan.name
    with reporter.step(name, "rpmlint"):
        result = lint_rpm(rpm, ctx.plan.loaded.recipe.lint.fail)
        with ctx.log.open("a") as fh:
            fh.write("rpmlint:\n" + "".join(f"  {f}\n" for f in result.findings))
        if result.failing:
            raise PkgrunError(
                f"rpmlint: {len(result.failing)} finding(s) of checks that fail the build: "
                + "; ".join(str(f) for f in result.failing[:5]),
                hint="fix the package, or change the recipe's [lint] fail list",
            )
    reporter.note(name, f"rpmlint: {result.summary()}")
    return result


def _build_in_container(
    ctx: BuildContext, reporter: Reporter, container: Container, tools: Path
) -> list[Entry]:
    """The build, staging and packaging steps; returns what was staged."""
    plan = ctx.plan
    recipe = plan.loaded.recipe
    name = plan.name
    with reporter.step(name, f"unpack {plan.source.filename}"):
        container.exec(["mkdir", "-p", CONTAINER_SRCDIR, CONTAINER_DESTDIR, CONTAINER_WORKDIR], log=ctx.log)
        container.exec(unpack_argv(plan), log=ctx.log)
    if ctx.dependencies:
        with reporter.step(name, f"install {', '.join(r.name for r in ctx.dependencies)}"):
            # rpm, not yum: the build container has no network, and needs the files
            container.exec(
                [
                    "rpm",
                    "-U",
                    "--nodeps",
                    "--replacepkgs",
                    *(f"{DEPENDENCIES_DIR}/{rpm.name}" for rpm in ctx.dependencies),
                ],
                log=ctx.log,
            )
    with reporter.step(name, f"run {recipe.build.script}"):
        container.exec(
            ["bash", "-euo", "pipefail", f"{CONTAINER_RECIPE_DIR}/{recipe.build.script}"],
            env=plan.build_env,
            workdir=CONTAINER_SRCDIR,
            log=ctx.log,
            hint=f"the build script failed; the whole output is in {ctx.log}",
            what=recipe.build.script,
        )
    with reporter.step(name, "stage the recipe's files"):
        container.exec(stage_argv(plan), log=ctx.log)
        listing = container.capture(
            find_argv(CONTAINER_DESTDIR, recipe.files.paths), workdir=CONTAINER_DESTDIR
        )
        entries = parse_listing(listing.stdout)
        if bad := unsafe_names(entries):
            raise PkgrunError(
                f"the build installed {len(bad)} path(s) with control characters or bytes that are not "
                f"UTF-8: {', '.join(bad[:5])}",
                hint="rename them in the build script; RPM headers and fpm's spec file hold names as text",
            )
        directories = expand_directories(recipe.files.directories, entries)
    with reporter.step(name, f"package with {ctx.packager}"):
        if ctx.packager is Packager.FPM:
            _write_escaped_hooks(plan, tools)
            container.exec(
                fpm_argv(
                    recipe,
                    plan.version,
                    plan.target,
                    _fpm_paths(plan),
                    plan.iteration,
                    directories=directories,
                ),
                # fpm also reads options from $FPMOPTS, ./.fpm and ~/.fpm: none of them here
                env={"FPMOPTS": "", "HOME": CONTAINER_WORKDIR},
                workdir=CONTAINER_WORKDIR,
                log=ctx.log,
            )
        else:
            config = tools / "nfpm.yaml"
            scripts = _write_scripts(plan, tools)
            config.write_text(
                json.dumps(
                    nfpm_config(
                        plan,
                        entries,
                        owned_directories(directories, entries),
                        staging=CONTAINER_DESTDIR,
                        scripts=scripts,
                    ),
                    indent=1,
                )
            )
            container.exec(
                [
                    NFPM_IN_CONTAINER,
                    "package",
                    "--config",
                    f"{CONTAINER_TOOLS_DIR}/nfpm.yaml",
                    "--packager",
                    "rpm",
                    "--target",
                    f"{CONTAINER_OUT_DIR}/{plan.rpm.name}",
                ],
                log=ctx.log,
            )
    return entries


NFPM_IN_CONTAINER = "/pkgrun/bin/nfpm"
DEPENDENCIES_DIR = "/pkgrun/deps"


def _fpm_paths(plan: BuildPlan) -> FpmPaths:
    return FpmPaths(
        staging=CONTAINER_DESTDIR,
        workdir=CONTAINER_WORKDIR,
        hooks=CONTAINER_HOOKS_DIR,
        package=f"{CONTAINER_OUT_DIR}/{plan.rpm.name}",
    )


def unpack_argv(plan: BuildPlan) -> list[str]:
    """The archive's top directory is stripped: the build script runs in the source tree."""
    return [
        "tar",
        "-xf",
        f"{CONTAINER_SOURCE_DIR}/{plan.source.filename}",
        "-C",
        CONTAINER_SRCDIR,
        "--strip-components=1",
        "--no-same-owner",
    ]


# Copies the recipe's [files.add] into the staging directory and creates [files.directories].
# Recipe paths arrive as arguments, never as shell text.
_STAGE_SCRIPT = """set -eu
dest=$1; shift
while [ "$1" != -- ]; do install -D -m 0644 "$1" "$dest$2"; shift 2; done
shift
for dir in "$@"; do mkdir -p "$dest$dir"; done
"""


def stage_argv(plan: BuildPlan) -> list[str]:
    files = plan.loaded.recipe.files
    argv = ["sh", "-c", _STAGE_SCRIPT, "sh", CONTAINER_DESTDIR]
    for dest, src in files.add.items():
        argv += [f"{CONTAINER_RECIPE_DIR}/{src}", dest]
    argv.append("--")
    return argv + [d for d in files.directories if not any(c in d for c in "*?[")]


def _write_escaped_hooks(plan: BuildPlan, tools: Path) -> None:
    """The recipe's hooks as fpm must read them (spec_escape), under the same relative paths."""
    for _, path in plan.loaded.recipe.hooks.items():
        copy = tools / "hooks" / path
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(spec_escape((plan.loaded.directory / path).read_text()))


def hook_texts(plan: BuildPlan) -> dict[str, str]:
    return {
        hook: (plan.loaded.directory / path).read_text() for hook, path in plan.loaded.recipe.hooks.items()
    }


def _write_scripts(plan: BuildPlan, tools: Path) -> dict[str, str]:
    scripts = {}
    (tools / "scripts").mkdir()
    for key, text in fpm_style_scripts(hook_texts(plan)).items():
        (tools / "scripts" / key).write_text(text)
        scripts[key] = f"{CONTAINER_TOOLS_DIR}/scripts/{key}"
    return scripts
