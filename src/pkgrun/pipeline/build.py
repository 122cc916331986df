"""One recipe from source to a verified RPM, in a disposable container.

``build_recipe`` runs the plan's steps in the plan's order (fetch, image, container, unpack,
dependencies, build, stage, package, verify, lint, install test) and reports each under the
plan's name for it; all output goes to the build's log. Files go into the container and the RPM
comes out of it as archives, so the same code drives a local engine and a remote one. The RPM
lands in a private directory and moves into the output directory only once rpm has read it
back, it matches the recipe, and it passed rpmlint's failing checks and its install test.
Publishing is the caller's (delivery.deliver).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from pkgrun import __version__
from pkgrun.archive import Item
from pkgrun.build.autodeps import Generated, of_package
from pkgrun.build.compiles import DEFAULT_MAX_BYTES, CompileCache, packaging_only
from pkgrun.build.container_commands import (
    buildroot_argv,
    clamp_argv,
    existing_argv,
    fpm_command,
    hook_texts,
    nfpm_argv,
    stage_argv,
)
from pkgrun.build.describe import sbom_facts
from pkgrun.build.fpm import changelog_text, spec_escape
from pkgrun.build.lint import LintResult, lint_rpm
from pkgrun.build.nfpm import fpm_style_scripts, nfpm_config, with_generated
from pkgrun.build.plan import (
    CONTAINER_CCACHE_DIR,
    CONTAINER_CHANGELOG,
    CONTAINER_DESTDIR,
    CONTAINER_HOOKS_DIR,
    CONTAINER_NFPM,
    CONTAINER_RECIPE_DIR,
    CONTAINER_TOOLS_DIR,
    CONTAINER_WORKDIR,
    BuildPlan,
    Step,
)
from pkgrun.build.sources import fetch_source, source_date_epoch
from pkgrun.build.staged_tree import check_package
from pkgrun.build.staging import (
    Entry,
    UnownedDirectories,
    check_config_files,
    directories_line,
    expand_directories,
    find_argv,
    needed_directories,
    owned_directories,
    parse_listing,
    unsafe_names,
)
from pkgrun.build.system_dirs import EL_FILESYSTEM_DIRS
from pkgrun.build.verify import verify_rpm
from pkgrun.engine import images
from pkgrun.engine.container import Container, Engine, Transfers, start_container
from pkgrun.errors import PkgrunError
from pkgrun.install.install_test import run_install_test
from pkgrun.install.lookup import check_plan_names
from pkgrun.pipeline.compiling import Compiled, compile_or_reuse, copy_in, look_up
from pkgrun.pipeline.result import BuildResult as BuildResult  # callers take it from here too
from pkgrun.repo.data import DistView
from pkgrun.report import Reporter
from pkgrun.rpm.header import content_digest
from pkgrun.rpm.query import RpmFile, read_rpm
from pkgrun.targets import Packager
from pkgrun.trust import sbom
from pkgrun.trust.signing import SigningKey, sign_rpms


@dataclass(frozen=True)
class BuildContext:
    """Run state around one plan: where things come from, go to, and how they run."""

    plan: BuildPlan
    engine: Engine
    out_dir: Path
    cache_dir: Path
    log: Path
    published: DistView  # the target's repository as the run read it: the previous release, providers
    nfpm: Path | None = None  # nfpm's binary on this host, copied into the container
    mirrors: Sequence[str] = ()
    max_download: int = 2 << 30
    pip: Mapping[str, str] = field(default_factory=dict)
    keep_container: bool = False
    dependencies: Sequence[Path] = ()  # RPMs of [build] recipes, installed before the build script
    siblings: Sequence[Path] = ()  # RPMs of [requires] recipes, installed beside it in its install test
    key: SigningKey | None = None  # signs the RPM on this host, before its install test
    compile_cache_max: int = DEFAULT_MAX_BYTES  # the compile cache's size limit
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
    def compiles(self) -> CompileCache:
        return CompileCache(self.cache_dir / "compiles", self.compile_cache_max)


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
    plan = ctx.plan
    name = plan.name
    started = time.monotonic()
    steps = Steps(reporter, name)
    ctx.log.parent.mkdir(parents=True, exist_ok=True)
    ctx.log.write_text(f"pkgrun {__version__}: {plan.nevra} for {plan.target.name} with {plan.packager}\n")
    reporter.note(
        name,
        f"packager: {plan.packager} "
        f"({'the build image carries fpm' if plan.packager is Packager.FPM else 'static binary, copied in'})",
    )
    with steps(Step.FETCH, f"fetch {plan.source.filename}"):
        source = fetch_source(
            plan.source,
            recipe=name,
            cache_dir=ctx.cache_dir,
            mirrors=ctx.mirrors,
            pip=ctx.pip,
            max_bytes=ctx.max_download,
            reporter=reporter,
        )
        epoch_time = plan.loaded.recipe.source.date_epoch
        if epoch_time is None:
            epoch_time = source_date_epoch(source, plan.source.sha256)
        reporter.note(name, f"SOURCE_DATE_EPOCH={epoch_time} ({_day(epoch_time)})")
    with steps(Step.IMAGE, "prepare the build image"):
        containerfile = plan.target.containerfile
        base = images.ensure_base_image(
            ctx.engine,
            plan.target,
            containerfile,
            log=ctx.log,
            reporter=reporter,
            recipe=name,
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
            alongside=[*ctx.siblings, *_published_providers(ctx)],
        )
        ctx = replace(ctx, system_directories=system)
        image = images.ensure_build_image(
            ctx.engine,
            plan.target,
            containerfile,
            base,
            plan.build_requires,
            log=ctx.log,
            reporter=reporter,
            recipe=name,
        )
    compiled: Compiled | None = None
    # A private directory inside the output directory: the RPM appears in out_dir by a rename,
    # whole and verified, or not at all.
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held, tempfile.TemporaryDirectory(prefix=".pkgrun-", dir=ctx.out_dir) as private:
        holds = ctx.compiles.holds()  # what this build uses of the compile cache, till it ends
        held.callback(shutil.rmtree, holds, ignore_errors=True)
        if plan.options.compile_cache:
            with steps(Step.COMPILE_CACHE, "look up the compile cache"):
                compiled = look_up(ctx, epoch_time, holds)
                reporter.note(name, compiled.why)
        rpm_tmp = Path(private) / plan.rpm.name
        made = _make_in_container(ctx, steps, reporter, image, source, epoch_time, compiled, holds, rpm_tmp)
        compiled, build_packages = made.compiled, made.build_packages
        with steps(Step.VERIFY, "read the RPM back and check it against what was staged"):
            # the scriptlets are the hooks as written and the files are what was staged,
            # whatever the build script did to the container the packager ran in
            scripts = fpm_style_scripts(hook_texts(plan))
            info = verify_rpm(rpm_tmp, plan, scripts, made.entries, made.generated)
            # and the files are the staged tree this machine holds, whatever the container says
            check_package(rpm_tmp, plan, made.tree, ctx.where)
        if plan.options.sign:
            if ctx.key is None:
                raise PkgrunError("no signing key for a build that signs", hint="pass --unsigned, or a key")
            with steps(Step.SIGN, f"sign with key {ctx.key.key_id}"):
                sign_rpms(ctx.key, [rpm_tmp])
        lint = None
        if plan.options.lint:
            with steps(Step.LINT, "rpmlint"):
                lint = check_lint(ctx, rpm_tmp)
            reporter.note(name, f"rpmlint: {lint.summary()}")
        tested = None
        if plan.options.install_test:
            with steps(Step.INSTALL_TEST, "install test"):
                tested = run_install_test(
                    plan,
                    rpm_tmp,
                    info,
                    engine=ctx.engine,
                    published=ctx.published,
                    siblings=ctx.siblings,
                    key=ctx.key if plan.options.sign else None,
                    log=ctx.log,
                    reporter=reporter,
                    keep_container=ctx.keep_container,
                    cache_dir=ctx.cache_dir,
                    transfers=ctx.transfers,
                )
        with steps(Step.SBOM, "describe the package (SBOM)"):
            sbom_tmp = rpm_tmp.with_name(sbom.file_name(rpm_tmp.name))
            facts = sbom_facts(plan, info, content_digest(rpm_tmp), build_packages, epoch_time)
            sbom_tmp.write_text(sbom.make_sbom(facts))
        final = ctx.out_dir / plan.rpm.name
        os.replace(sbom_tmp, final.with_name(sbom_tmp.name))
        os.replace(rpm_tmp, final)
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
                    keep=ctx.keep_container,
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
        entries, generated = _stage_and_package(ctx, steps, container, epoch_time, tree)
        reporter.note(plan.name, generated.summary())
        container.get(plan.container_rpm, rpm)
    return Made(compiled, entries, build_packages, tree, generated)


def _stage_and_package(
    ctx: BuildContext, steps: Steps, container: Container, epoch_time: int, tree: Path
) -> tuple[list[Entry], Generated]:
    """The stage and package steps, once the staging directory holds the compile (``tree``, its
    archive on this machine); returns what was staged, as the container lists it, and the
    dependencies generated from it."""
    plan = ctx.plan
    recipe = plan.loaded.recipe
    reproducible = {"SOURCE_DATE_EPOCH": str(epoch_time)}
    container.put(_packaging_files(ctx, epoch_time))
    with steps(Step.STAGE, "stage the recipe's files"):
        container.exec(stage_argv(plan), log=ctx.log)
        container.exec(clamp_argv(epoch_time), log=ctx.log)
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
        if leaks := _buildroot_leaks(container, plan, entries):
            raise PkgrunError(
                f"{len(leaks)} staged file(s) hold the staging directory's path {CONTAINER_DESTDIR}, which "
                f"does not exist where the package is installed: {', '.join(leaks[:8])}",
                hint="install with the final paths (e.g. compile Python with `python -m compileall -d "
                "/installed/dir`, configure with --prefix and install with DESTDIR); rpmbuild's "
                "check-buildroot refuses such a package too",
            )
        check_config_files(recipe.files.config, entries, str(plan.loaded.file))
        directories = expand_directories(recipe.files.directories, entries, str(plan.loaded.file))
        _check_directories_owned(container, ctx, entries, directories)
    with steps(Step.PACKAGE, f"package with {plan.packager}"):
        generated = of_package(tree, recipe, plan.loaded.directory)
        if plan.packager is Packager.FPM:
            container.exec(
                fpm_command(plan, directories, generated),
                # fpm also reads options from $FPMOPTS, ./.fpm and ~/.fpm: none of them here
                env={"FPMOPTS": "", "HOME": CONTAINER_WORKDIR, **reproducible},
                workdir=CONTAINER_WORKDIR,
                log=ctx.log,
            )
        else:
            config = nfpm_config(
                with_generated({**(plan.nfpm_config or {}), "mtime": _rfc3339(epoch_time)}, generated),
                recipe.files.config,
                entries,
                owned_directories(directories, entries),
                staging=CONTAINER_DESTDIR,
                scripts={
                    key: f"{CONTAINER_TOOLS_DIR}/scripts/{key}" for key in fpm_style_scripts(hook_texts(plan))
                },
            )
            scripts = [
                Item(f"{CONTAINER_TOOLS_DIR}/scripts/{key}", data=text.encode())
                for key, text in fpm_style_scripts(hook_texts(plan)).items()
            ]
            container.put(
                [
                    Item(f"{CONTAINER_TOOLS_DIR}/nfpm.yaml", data=json.dumps(config, indent=1).encode()),
                    *scripts,
                ]
            )
            container.exec(nfpm_argv(plan), log=ctx.log)
    return entries, generated


def _packaging_files(ctx: BuildContext, epoch_time: int) -> list[Item]:
    """What only packaging reads, for the steps after the compile: recipe.toml, the hooks and
    the [files.add] sources; nfpm, or fpm's %changelog (which holds the iteration) and the hooks
    as rpmbuild must read them (it expands macros in its spec file)."""
    plan = ctx.plan
    directory = plan.loaded.directory
    items = [
        Item(f"{CONTAINER_RECIPE_DIR}/{relative}", source=directory / relative)
        for relative in sorted(packaging_only(plan))
        if (directory / relative).is_file()
    ]
    if plan.packager is Packager.NFPM:
        assert ctx.nfpm is not None  # BuildContext says so before any work
        return [*items, Item(CONTAINER_NFPM, source=ctx.nfpm, mode=0o755)]
    text = changelog_text(plan.loaded.recipe, plan.version, plan.release, epoch_time)
    hooks = [
        Item(f"{CONTAINER_HOOKS_DIR}/{path}", data=spec_escape((directory / path).read_text()).encode())
        for _, path in plan.loaded.recipe.hooks.items()
    ]
    return [*items, Item(CONTAINER_CHANGELOG, data=text.encode()), *hooks]


def _check_directories_owned(
    container: Container, ctx: BuildContext, entries: Sequence[Entry], directories: Sequence[str]
) -> None:
    """The directories the package's files need exist where it is installed (the runtime image
    with the recipe's requirements, else the build's container), come with a package it is
    installed with (another recipe's, one pkgrun's repository provides) or are the package's
    own: else rpm would create them on install and leave them behind on removal, which the
    install test finds only after packaging."""
    plan = ctx.plan
    needed = needed_directories(entries, owned_directories(directories, entries), ("/", *EL_FILESYSTEM_DIRS))
    if needed and ctx.system_directories is not None:
        needed = [path for path in needed if path not in ctx.system_directories]
    if needed and (alongside := [*ctx.siblings, *_published_providers(ctx)]):
        had = {d for rpm in alongside for f in read_rpm(rpm).files for d in _parents(f)}
        needed = [path for path in needed if path not in had]
    if needed and ctx.system_directories is None:
        present = set(container.capture(existing_argv(needed)).stdout.split("\n"))
        needed = [path for path in needed if path not in present]
    if needed:
        line = directories_line(plan.loaded.recipe.files.directories, needed)
        raise UnownedDirectories(str(plan.loaded.file), needed, line, plan.target.name)


def _parents(file: RpmFile) -> list[str]:
    """A packaged path's directories: itself when it is one, and those it is in (pure)."""
    path = file.path if file.mode.startswith("d") else posixpath.dirname(file.path)
    out = []
    while path not in ("/", ""):
        out.append(path)
        path = posixpath.dirname(path)
    return out


def _published_providers(ctx: BuildContext) -> list[Path]:
    """The published packages a server takes with this one for what it requires."""
    requires = [*ctx.plan.requires, *ctx.plan.hook_requires]
    return ctx.published.providers(requires, skip={ctx.plan.name})


def _buildroot_leaks(container: Container, plan: BuildPlan, entries: Sequence[Entry]) -> list[str]:
    """Staged files (and links) that name the staging directory: they would point nowhere once
    installed (a .pyc compiled with the staging path, a script with #!/pkgrun/destdir/...)."""
    found = container.capture(buildroot_argv(plan), workdir=CONTAINER_DESTDIR, check=False).stdout
    leaks = ["/" + line.strip().removeprefix("./") for line in found.splitlines() if line.strip()]
    leaks += [e.path for e in entries if e.kind == "l" and CONTAINER_DESTDIR in e.link]
    return sorted(set(leaks))


def _rfc3339(epoch_time: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_time))


def _day(epoch_time: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_time))
