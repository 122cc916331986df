"""One recipe from source to a verified RPM, in a disposable container.

``build_recipe`` runs the plan's steps in the plan's order (fetch, image, container, unpack,
dependencies, build, stage, package, verify, lint, install test) and reports each under the
plan's name for it; all output goes to the build's log. Files go into the container and the RPM
comes out of it as archives, so the same code drives a local engine and a remote one. The RPM
lands in a private directory and moves into the output directory only once rpm has read it
back, it matches the recipe, and it passed rpmlint's failing checks and its install test.
The compile's steps are compiling.py's, the stage and package steps packaging.py's; publishing
is the caller's (delivery.deliver).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from pkgrun import __version__
from pkgrun.build.autodeps import Generated
from pkgrun.build.compiles import CompileCache
from pkgrun.build.container_commands import hook_texts
from pkgrun.build.describe import sbom_facts
from pkgrun.build.lint import LintResult, lint_rpm
from pkgrun.build.nfpm import fpm_style_scripts
from pkgrun.build.plan import CONTAINER_CCACHE_DIR, BuildPlan, Step
from pkgrun.build.sources import fetch_source, source_date_epoch
from pkgrun.build.staged_tree import check_package
from pkgrun.build.staging import Entry
from pkgrun.build.verify import verify_rpm
from pkgrun.config.settings import Settings
from pkgrun.engine import images
from pkgrun.engine.container import Engine, Transfers, start_container
from pkgrun.errors import PkgrunError
from pkgrun.install.install_test import InstallTestReport, run_install_test
from pkgrun.install.lookup import check_plan_names
from pkgrun.pipeline.compiling import Compiled, compile_or_reuse, copy_in, look_up
from pkgrun.pipeline.packaging import published_providers, stage_and_package
from pkgrun.pipeline.result import BuildResult
from pkgrun.repo.data import DistView
from pkgrun.report import Reporter
from pkgrun.rpm.header import content_digest
from pkgrun.rpm.query import RpmInfo
from pkgrun.targets import Packager
from pkgrun.trust import sbom
from pkgrun.trust.signing import SigningKey, sign_rpms


@dataclass(frozen=True)
class BuildContext:
    """Run state around one plan: where things come from, go to, and how they run. What the
    run's settings decide (caches, mirrors, limits) is read from them, not copied."""

    plan: BuildPlan
    engine: Engine
    settings: Settings
    log: Path
    published: DistView  # the target's repository as the run read it: the previous release, providers
    out_dir: Path | None = None  # where the RPM lands; None: the settings' out_dir
    nfpm: Path | None = None  # nfpm's binary on this host, copied into the container
    dependencies: Sequence[Path] = ()  # RPMs of [build] recipes, installed before the build script
    siblings: Sequence[Path] = ()  # RPMs of [requires] recipes, installed beside it in its install test
    key: SigningKey | None = None  # signs the RPM on this host, before its install test
    host: str = ""  # the [[hosts]] name of the host it runs on, when pkgrun.toml names one
    # the directories where the package is installed: the runtime image's with the recipe's
    # requirements (lookup.py); None: the build's container stands for them
    system_directories: frozenset[str] | None = None
    # what the build's containers took in and gave back (filled in as it runs)
    transfers: Transfers = field(default_factory=Transfers)

    def __post_init__(self) -> None:
        if self.plan.packager is Packager.NFPM and self.nfpm is None:  # before any work
            raise PkgrunError(
                "nfpm was not found", hint="nfpm comes with pkgrun's Python package: reinstall pkgrun"
            )

    @property
    def where(self) -> str:
        """The host the build's containers run on, by its [[hosts]] name and as its engine says:
        what a kept compile records of where it was made, and a refused package of where it
        came from."""
        engine = str(self.engine) if self.engine.remote else f"this machine's {self.engine.name}"
        return f"build host {self.host} ({engine})" if self.host else engine

    @property
    def output(self) -> Path:
        return self.out_dir or self.settings.out_dir

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir

    @property
    def compiles(self) -> CompileCache:
        return CompileCache(self.cache_dir / "compiles", self.settings.compile_cache_max)


class Steps:
    """The reporter's steps, each recorded under the plan's name once it has run."""

    def __init__(self, reporter: Reporter, recipe: str) -> None:
        self.reporter, self.recipe = reporter, recipe
        self.done: list[str] = []

    @contextmanager
    def __call__(self, name: str, label: str) -> Iterator[None]:
        with self.reporter.step(self.recipe, label):
            yield
        self.done.append(name)


def build_recipe(ctx: BuildContext, reporter: Reporter) -> BuildResult:
    """The plan's steps, one after the other; the RPM lands in ``ctx.output`` only once it
    passed them all."""
    plan = ctx.plan
    started = time.monotonic()
    steps = Steps(reporter, plan.name)
    _start_log(ctx, reporter)
    source, epoch_time = _fetch(ctx, steps, reporter)
    image, system = _prepare_images(ctx, steps, reporter)
    ctx = replace(ctx, system_directories=system)
    with _private_dir(ctx) as (private, holds):
        compiled = _look_up_compile(ctx, steps, reporter, epoch_time, holds)
        rpm_tmp = private / plan.rpm.name
        made = _make_in_container(ctx, steps, reporter, image, source, epoch_time, compiled, holds, rpm_tmp)
        compiled = made.compiled
        info = _verify(ctx, steps, rpm_tmp, made)
        _sign(ctx, steps, rpm_tmp)
        lint = _lint(ctx, steps, reporter, rpm_tmp)
        tested = _install_test(ctx, steps, reporter, rpm_tmp, info)
        sbom_tmp = _describe(ctx, steps, rpm_tmp, info, made.build_packages, epoch_time)
        final = _move_out(ctx, rpm_tmp, sbom_tmp)
    return BuildResult(
        plan,
        final,
        info,
        time.monotonic() - started,
        ctx.log,
        tuple(steps.done),
        lint,
        tested,
        epoch_time,
        compiled.summary if compiled else None,
        float(compiled.kept.facts.get("seconds") or 0) if compiled and compiled.kept else 0.0,
        ctx.transfers,
    )


def _start_log(ctx: BuildContext, reporter: Reporter) -> None:
    """The build's log begun with what builds, and the packager said."""
    plan = ctx.plan
    ctx.log.parent.mkdir(parents=True, exist_ok=True)
    ctx.log.write_text(f"pkgrun {__version__}: {plan.nevra} for {plan.target.name} with {plan.packager}\n")
    reporter.note(
        plan.name,
        f"packager: {plan.packager} "
        f"({'the build image carries fpm' if plan.packager is Packager.FPM else 'static binary, copied in'})",
    )


def _fetch(ctx: BuildContext, steps: Steps, reporter: Reporter) -> tuple[Path, int]:
    """The fetch step: the source, and the SOURCE_DATE_EPOCH the build uses (the recipe's, else
    the source's)."""
    plan = ctx.plan
    with steps(Step.FETCH, f"fetch {plan.source.filename}"):
        source = fetch_source(
            plan.source,
            recipe=plan.name,
            cache_dir=ctx.cache_dir,
            mirrors=ctx.settings.mirrors,
            pip=ctx.settings.pip,
            max_bytes=ctx.settings.max_download,
            reporter=reporter,
        )
        epoch_time = plan.loaded.recipe.source.date_epoch
        if epoch_time is None:
            epoch_time = source_date_epoch(source, plan.source.sha256)
        reporter.note(plan.name, f"SOURCE_DATE_EPOCH={epoch_time} ({_day(epoch_time)})")
    return source, epoch_time


def _prepare_images(ctx: BuildContext, steps: Steps, reporter: Reporter) -> tuple[str, frozenset[str] | None]:
    """The image step: the base image, the plan's names looked up where the package is
    installed, and the build image; returns the build image and the directories where the
    package is installed (BuildContext.system_directories)."""
    plan = ctx.plan
    with steps(Step.IMAGE, "prepare the build image"):
        containerfile = plan.target.containerfile
        base = images.ensure_base_image(
            ctx.engine,
            plan.target,
            containerfile,
            log=ctx.log,
            reporter=reporter,
            recipe=plan.name,
            cache_dir=ctx.cache_dir,
        )
        system = check_plan_names(
            ctx.engine,
            plan,
            base,
            published=ctx.published,
            log=ctx.log,
            reporter=reporter,
            cache_dir=ctx.cache_dir,
            alongside=[*ctx.siblings, *published_providers(ctx)],
        )
        image = images.ensure_build_image(
            ctx.engine,
            plan.target,
            containerfile,
            base,
            plan.build_requires,
            log=ctx.log,
            reporter=reporter,
            recipe=plan.name,
        )
    return image, system


@contextmanager
def _private_dir(ctx: BuildContext) -> Iterator[tuple[Path, Path]]:
    """A private directory inside the output directory, and what this build holds of the compile
    cache (CompileCache.holds), both until the build ends: the RPM appears in out_dir by a
    rename, whole and verified, or not at all."""
    ctx.output.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held, tempfile.TemporaryDirectory(prefix=".pkgrun-", dir=ctx.output) as private:
        holds = ctx.compiles.holds()
        held.callback(shutil.rmtree, holds, ignore_errors=True)
        yield Path(private), holds


def _look_up_compile(
    ctx: BuildContext, steps: Steps, reporter: Reporter, epoch_time: int, holds: Path
) -> Compiled | None:
    """The compile cache's step, where the plan uses it: the kept compile, or why there is none."""
    if not ctx.plan.options.compile_cache:
        return None
    with steps(Step.COMPILE_CACHE, "look up the compile cache"):
        compiled = look_up(ctx, epoch_time, holds)
        reporter.note(ctx.plan.name, compiled.why)
    return compiled


@dataclass(frozen=True)
class Made:
    """What a build's container made besides the RPM: what the compile cache said once the
    container had what it needed, the staged entries (as the container lists them), the build
    image's packages and the compile's archive on this machine."""

    compiled: Compiled | None
    entries: list[Entry]
    build_packages: list[tuple[str, str]]
    tree: Path
    generated: Generated


def _make_in_container(
    ctx: BuildContext,
    steps: Steps,
    reporter: Reporter,
    image: str,
    source: Path,
    epoch_time: int,
    compiled: Compiled | None,
    holds: Path,
    rpm: Path,
) -> Made:
    """The container, start to end: copy in, compile (or unpack the kept compile), stage,
    package, and the RPM copied out to ``rpm``."""
    plan = ctx.plan
    with ExitStack() as stack:
        what = "the kept compile" if compiled and compiled.kept else "the source"
        with steps(Step.CONTAINER, f"start a container and copy in the recipe and {what}"):
            volumes = [(plan.ccache_volume, CONTAINER_CCACHE_DIR)] if plan.ccache_volume else []
            container = stack.enter_context(
                start_container(
                    ctx.engine,
                    plan.name,
                    image,
                    keep=ctx.settings.keep_container,
                    volumes=volumes,
                    transfers=ctx.transfers,
                )
            )
            reporter.note(plan.name, f"container {container.name} from {image}, no network")
            # what only packaging reads goes in after the compile: the build cannot read it
            compiled = copy_in(ctx, container, source, epoch_time, compiled, reporter)
        build_packages, tree = compile_or_reuse(
            ctx, steps, container, epoch_time, compiled, reporter, source, holds
        )
        entries, generated = stage_and_package(ctx, steps, container, epoch_time, tree)
        reporter.note(plan.name, generated.summary())
        container.get(plan.container_rpm, rpm)
    return Made(compiled, entries, build_packages, tree, generated)


def _verify(ctx: BuildContext, steps: Steps, rpm: Path, made: Made) -> RpmInfo:
    plan = ctx.plan
    with steps(Step.VERIFY, "read the RPM back and check it against what was staged"):
        # the scriptlets are the hooks as written and the files are what was staged,
        # whatever the build script did to the container the packager ran in
        scripts = fpm_style_scripts(hook_texts(plan))
        info = verify_rpm(rpm, plan, scripts, made.entries, made.generated)
        # and the files are the staged tree this machine holds, whatever the container says
        check_package(rpm, plan, made.tree, ctx.where)
    return info


def _sign(ctx: BuildContext, steps: Steps, rpm: Path) -> None:
    if not ctx.plan.options.sign:
        return
    if ctx.key is None:
        raise PkgrunError("no signing key for a build that signs", hint="pass --unsigned, or a key")
    with steps(Step.SIGN, f"sign with key {ctx.key.key_id}"):
        sign_rpms(ctx.key, [rpm])


def _lint(ctx: BuildContext, steps: Steps, reporter: Reporter, rpm: Path) -> LintResult | None:
    if not ctx.plan.options.lint:
        return None
    with steps(Step.LINT, "rpmlint"):
        lint = check_lint(ctx, rpm)
    reporter.note(ctx.plan.name, f"rpmlint: {lint.summary()}")
    return lint


def check_lint(ctx: BuildContext, rpm: Path) -> LintResult:
    """rpmlint's findings; the checks the recipe lists in [lint] fail fail the build."""
    lint = ctx.plan.loaded.recipe.lint
    result = lint_rpm(rpm, lint.fail, lint.ignore, ctx.key.signer_ids if ctx.key else ())
    with ctx.log.open("a") as fh:
        fh.write("rpmlint:\n" + "".join(f"  {f}\n" for f in result.findings))
    if result.failing:
        raise PkgrunError(
            f"rpmlint: {len(result.failing)} finding(s) of checks that fail the build: "
            + "; ".join(str(f) for f in result.failing[:5]),
            hint="fix the package, or change the recipe's [lint] fail list",
        )
    return result


def _install_test(
    ctx: BuildContext, steps: Steps, reporter: Reporter, rpm: Path, info: RpmInfo
) -> InstallTestReport | None:
    plan = ctx.plan
    if not plan.options.install_test:
        return None
    with steps(Step.INSTALL_TEST, "install test"):
        return run_install_test(
            plan,
            rpm,
            info,
            engine=ctx.engine,
            published=ctx.published,
            siblings=ctx.siblings,
            key=ctx.key if plan.options.sign else None,
            log=ctx.log,
            reporter=reporter,
            keep_container=ctx.settings.keep_container,
            cache_dir=ctx.cache_dir,
            transfers=ctx.transfers,
        )


def _describe(
    ctx: BuildContext,
    steps: Steps,
    rpm: Path,
    info: RpmInfo,
    build_packages: list[tuple[str, str]],
    epoch_time: int,
) -> Path:
    """The SBOM step: the package described beside it; returns the SBOM's path."""
    with steps(Step.SBOM, "describe the package (SBOM)"):
        sbom_tmp = rpm.with_name(sbom.file_name(rpm.name))
        facts = sbom_facts(ctx.plan, info, content_digest(rpm), build_packages, epoch_time)
        sbom_tmp.write_text(sbom.make_sbom(facts))
    return sbom_tmp


def _move_out(ctx: BuildContext, rpm: Path, sbom_file: Path) -> Path:
    """The SBOM, then the RPM, renamed into the output directory; returns the RPM's path there."""
    final = ctx.output / ctx.plan.rpm.name
    os.replace(sbom_file, final.with_name(sbom_file.name))
    os.replace(rpm, final)
    return final


def _day(epoch_time: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_time))
