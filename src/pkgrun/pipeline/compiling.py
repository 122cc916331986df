"""The compile half of a build: the compile cache looked up (the kept compile held while the
build uses it), the kept compile unpacked or the source compiled, and the compile kept.

A compile is unpacking the source, installing the [build] recipes' packages and running the
build script, which installs into the staging directory; what it depends on is its key
(compiles.py). What only packaging reads goes into the container after it (packaging.py).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pkgrun.archive import Item
from pkgrun.build.compiles import CompileInputs, Kept, compile_inputs, packaging_only
from pkgrun.build.plan import (
    CONTAINER_CCACHE_BIN,
    CONTAINER_COMPILED,
    CONTAINER_DEPENDENCIES_DIR,
    CONTAINER_DESTDIR,
    CONTAINER_OUT_DIR,
    CONTAINER_RECIPE_DIR,
    CONTAINER_SOURCE_DIR,
    CONTAINER_SRCDIR,
    CONTAINER_WORKDIR,
    BuildPlan,
    Step,
)
from pkgrun.engine import images
from pkgrun.engine.container import Container
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.report import Reporter
from pkgrun.rpm.header import content_digest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pkgrun.pipeline.build import BuildContext, Steps


@dataclass(frozen=True)
class Compiled:
    """What the compile cache said of a build: its compile's inputs, the kept compile it reuses
    (None: it compiles), and why, in words."""

    inputs: CompileInputs
    kept: Kept | None
    why: str

    @property
    def summary(self) -> str:
        if self.kept is not None:
            return f"compile reused (key {self.kept.short})"
        return f"compiled (key {self.inputs.digest()[:12]})"


def look_up(ctx: BuildContext, epoch_time: int, holds: Path) -> Compiled:
    """The compile's inputs and the kept compile of them, held for this build in ``holds``
    (CompileCache.holds: no prune removes it while the build runs), or why there is none. The
    build image counts by its identity, which is the same on every host: a compile made on one
    is reused on another."""
    plan = ctx.plan
    inputs = compile_inputs(
        plan,
        image=images.image_identity(plan.target, plan.target.containerfile, plan.build_requires),
        source_date_epoch=epoch_time,
        packages=[content_digest(rpm) for rpm in ctx.dependencies],
    )
    cache = ctx.compiles
    if plan.options.recompile:
        return Compiled(inputs, None, f"compile: from source (--recompile; key {inputs.digest()[:12]})")
    kept = cache.take(inputs.digest(), holds)
    if kept is not None:
        return Compiled(
            inputs, kept, f"compile reused ({kept.describe()}): the compile's inputs are unchanged"
        )
    return Compiled(inputs, None, "compile: from source, " + cache.why_not(inputs))


def copy_in(
    ctx: BuildContext,
    container: Container,
    source: Path,
    epoch_time: int,
    compiled: Compiled | None,
    reporter: Reporter,
) -> Compiled | None:
    """The recipe directory but what only packaging reads, and the kept compile or the source,
    into the container. A kept compile whose hold went all the same (removed by hand) is not
    an error: the source is compiled instead, and the build says so."""
    plan = ctx.plan
    reused = compiled.kept if compiled else None
    trees = [(plan.loaded.directory, CONTAINER_RECIPE_DIR)]
    try:
        container.put(compile_items(ctx, source, reused), trees, packaging_only(plan))
        return compiled
    except FileNotFoundError:
        if compiled is None or reused is None or reused.tree.exists():
            raise
    why = f"compile: from source, the kept compile {reused.short} went before it was copied in"
    reporter.note(plan.name, why)
    container.put(compile_items(ctx, source), trees, packaging_only(plan))
    return Compiled(compiled.inputs, None, why)


def compile_items(ctx: BuildContext, source: Path, reused: Kept | None = None) -> list[Item]:
    """What goes into the container for the compile besides the recipe directory: the source
    and the [build] recipes' packages, or the kept compile's staging directory. Nothing of
    packaging: fpm's %changelog holds the iteration, which no compile key holds."""
    if reused is not None:
        return [Item(CONTAINER_COMPILED, source=reused.tree, mode=0o444)]
    plan = ctx.plan
    return [
        Item(f"{CONTAINER_SOURCE_DIR}/{plan.source.filename}", source=source, mode=0o444),
        *(Item(f"{CONTAINER_DEPENDENCIES_DIR}/{rpm.name}", source=rpm) for rpm in ctx.dependencies),
    ]


def compile_source(
    ctx: BuildContext,
    steps: Steps,
    container: Container,
    directories: list[str],
    reproducible: dict[str, str],
) -> list[tuple[str, str]]:
    """Unpack the source, install the [build] recipes' packages, run the build script; returns
    the build image's packages (name, exact version)."""
    plan = ctx.plan
    recipe = plan.loaded.recipe
    with steps(Step.UNPACK, f"unpack {plan.source.filename}"):
        container.exec(directories, log=ctx.log)
        container.exec(unpack_argv(plan), log=ctx.log)
    if recipe.build.recipes:
        with steps(Step.DEPENDENCIES, f"install {', '.join(r.name for r in ctx.dependencies) or 'nothing'}"):
            if len(ctx.dependencies) != len(recipe.build.recipes):
                raise PkgrunError(
                    f"{plan.name} needs the packages of {', '.join(recipe.build.recipes)}, "
                    f"and only {len(ctx.dependencies)} were found",
                    hint="build them first (pkgrun build builds what a named recipe needs)",
                )
            # rpm, not yum: the build container has no network, and needs the files
            container.exec(dependencies_argv(ctx.dependencies), log=ctx.log)
    with steps(Step.BUILD, f"run {recipe.build.script}"):
        if plan.options.ccache:
            container.exec(ccache_links_argv(), log=ctx.log)
            container.exec(["ccache", "--zero-stats"], env=plan.build_env, log=ctx.log)
        container.exec(
            ["bash", "-euo", "pipefail", f"{CONTAINER_RECIPE_DIR}/{recipe.build.script}"],
            env={**plan.build_env, **reproducible},
            workdir=CONTAINER_SRCDIR,
            log=ctx.log,
            hint=f"the build script failed; the whole output is in {ctx.log}",
            what=recipe.build.script,
        )
        if plan.options.ccache:
            container.exec(["ccache", "--show-stats"], env=plan.build_env, log=ctx.log)
    listed = container.capture(list(plan.target.package_query)).stdout
    return [(n, v) for n, v in (line.split("\t", 1) for line in listed.splitlines() if "\t" in line)]


def bring_back(ctx: BuildContext, container: Container, holds: Path) -> Path:
    """The staging directory as the build script left it, as an archive on this machine (in
    ``holds``): what the package is checked against, and what the compile cache keeps."""
    archive = holds / "compiled.tar"
    try:
        container.exec(keep_argv(), log=ctx.log)
        container.get(f"{CONTAINER_OUT_DIR}/compiled.tar", archive)
        container.exec(["rm", "-f", f"{CONTAINER_OUT_DIR}/compiled.tar"], log=ctx.log)
    except OSError as exc:
        raise PkgrunError(
            f"the compile could not be brought back to this machine: {exc}",
            hint=f"free space in {holds.parent}: the package is checked against it before it is signed",
        ) from None
    return archive


def keep_compile(
    ctx: BuildContext,
    inputs: CompileInputs,
    archive: Path,
    build_packages: list[tuple[str, str]],
    seconds: float,
    reporter: Reporter,
) -> None:
    """Keep ``archive`` (bring_back's, which stays where it is) in the compile cache; a compile
    that cannot be kept (a full disk) is said, and the build goes on."""
    cache = ctx.compiles
    incoming = cache.staging()
    try:
        copy = incoming / "compiled.tar"
        try:
            os.link(archive, copy)
        except OSError:
            shutil.copyfile(archive, copy)
        kept = cache.store(inputs, copy, build_packages, seconds, ctx.where)
        reporter.note(ctx.plan.name, f"compile kept: key {kept.short}, {kept.facts['size'] / 2**20:.1f} MiB")
    except (OSError, PkgrunError) as exc:
        message = exc.message if isinstance(exc, PkgrunError) else str(exc)
        reporter.note(ctx.plan.name, f"compile not kept: {message}")
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


# The compilers' names, linked to ccache: ccache, called by a link's name, runs the compiler of
# that name found next in PATH. Debian's and EPEL's own link directories lack cc (nginx's
# default compiler), so pkgrun makes its own.
_CCACHE_LINKS = """set -eu
ccache=$(command -v ccache)
mkdir -p "$1"
for compiler in cc gcc c++ g++; do ln -sf "$ccache" "$1/$compiler"; done
"""


def ccache_links_argv() -> list[str]:
    return ["sh", "-c", _CCACHE_LINKS, "sh", CONTAINER_CCACHE_BIN]


def keep_argv() -> list[str]:
    """The staging directory as the build script left it, as an archive (run in the container)."""
    return ["tar", "-cf", f"{CONTAINER_OUT_DIR}/compiled.tar", "-C", CONTAINER_DESTDIR, "."]


def reuse_argv() -> list[str]:
    """A kept compile's archive unpacked into the staging directory, owners and modes as built."""
    return ["tar", "-xf", CONTAINER_COMPILED, "-C", CONTAINER_DESTDIR, "--same-owner"]


def dependencies_argv(rpms: Sequence[Path]) -> list[str]:
    return [
        "rpm",
        "-U",
        "--nodeps",
        "--replacepkgs",
        *(f"{CONTAINER_DEPENDENCIES_DIR}/{rpm.name}" for rpm in rpms),
    ]


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


def compile_or_reuse(
    ctx: BuildContext,
    steps: Steps,
    container: Container,
    epoch_time: int,
    compiled: Compiled | None,
    reporter: Reporter,
    source: Path,
    holds: Path,
) -> tuple[list[tuple[str, str]], Path]:
    """The unpack, dependencies, build and keep steps (unpack only, of the kept compile, when
    the compile cache holds one); returns the packages the build image had (name, version) and
    the compile's archive on this machine (in ``holds``)."""
    plan = ctx.plan
    reproducible = {"SOURCE_DATE_EPOCH": str(epoch_time)}
    directories = ["mkdir", "-p", CONTAINER_SRCDIR, CONTAINER_DESTDIR, CONTAINER_WORKDIR, CONTAINER_OUT_DIR]
    if compiled is not None and compiled.kept is not None:
        kept = compiled.kept
        try:
            with steps(Step.UNPACK, f"unpack the kept compile {kept.short}"):
                container.exec(directories, log=ctx.log)
                container.exec(reuse_argv(), log=ctx.log)
            return kept.build_packages, kept.tree
        except CommandFailed as exc:  # a damaged archive: forget it, and compile
            if exc.returncode in (-9, 125):  # killed, or the engine's own failure: not the archive
                raise
            ctx.compiles.evict(kept.digest)
            reporter.note(plan.name, f"the kept compile {kept.short} is unusable ({exc.message}): compiling")
            container.exec(["rm", "-rf", CONTAINER_DESTDIR], log=ctx.log)
            container.put(compile_items(ctx, source))
            if Step.UNPACK in steps.done:
                steps.done.remove(Step.UNPACK)
    began = time.monotonic()
    build_packages = compile_source(ctx, steps, container, directories, reproducible)
    seconds = time.monotonic() - began
    if compiled is None:  # no compile cache: the compile still comes here, to check the package
        return build_packages, bring_back(ctx, container, holds)
    with steps(Step.KEEP, "keep the compile in the compile cache"):
        archive = bring_back(ctx, container, holds)
        keep_compile(ctx, compiled.inputs, archive, build_packages, seconds, reporter)
    return build_packages, archive
