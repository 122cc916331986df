"""The stage and package steps of a build, in its container once the staging directory holds the
compile: what only packaging reads copied in, the recipe's files staged and checked (their
names, the staging directory's path in them, the config files, the directories they need where
the package is installed), then the package made with fpm or nfpm.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pkgrun.archive import Item
from pkgrun.build.autodeps import Generated, of_package
from pkgrun.build.compiles import packaging_only
from pkgrun.build.container_commands import (
    buildroot_argv,
    clamp_argv,
    existing_argv,
    fpm_command,
    hook_texts,
    nfpm_argv,
    stage_argv,
)
from pkgrun.build.fpm import changelog_text, spec_escape
from pkgrun.build.nfpm import fpm_style_scripts, nfpm_config, with_generated
from pkgrun.build.plan import (
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
from pkgrun.engine.container import Container
from pkgrun.errors import PkgrunError
from pkgrun.rpm.query import RpmFile, read_rpm
from pkgrun.targets import Packager

if TYPE_CHECKING:
    from pkgrun.pipeline.build import BuildContext, Steps


def stage_and_package(
    ctx: BuildContext, steps: Steps, container: Container, epoch_time: int, tree: Path
) -> tuple[list[Entry], Generated]:
    """The stage and package steps, once the staging directory holds the compile (``tree``, its
    archive on this machine); returns what was staged, as the container lists it, and the
    dependencies generated from it."""
    plan = ctx.plan
    container.put(_packaging_files(ctx, epoch_time))
    with steps(Step.STAGE, "stage the recipe's files"):
        entries = _stage(ctx, container, epoch_time)
        directories = _check_staged(ctx, container, entries)
    with steps(Step.PACKAGE, f"package with {plan.packager}"):
        generated = of_package(tree, plan.loaded.recipe, plan.loaded.directory)
        if plan.packager is Packager.FPM:
            _package_with_fpm(ctx, container, epoch_time, directories, generated)
        else:
            _package_with_nfpm(ctx, container, epoch_time, entries, directories, generated)
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


def _stage(ctx: BuildContext, container: Container, epoch_time: int) -> list[Entry]:
    """The recipe's files staged, their times clamped to the source's, and listed."""
    plan = ctx.plan
    container.exec(stage_argv(plan), log=ctx.log)
    container.exec(clamp_argv(epoch_time), log=ctx.log)
    listing = container.capture(
        find_argv(CONTAINER_DESTDIR, plan.loaded.recipe.files.paths), workdir=CONTAINER_DESTDIR
    )
    return parse_listing(listing.stdout)


def _check_staged(ctx: BuildContext, container: Container, entries: list[Entry]) -> list[str]:
    """What was staged, refused before packaging where it is wrong for a package; returns the
    recipe's [files] directories, expanded."""
    plan = ctx.plan
    recipe = plan.loaded.recipe
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
    return directories


def _package_with_fpm(
    ctx: BuildContext, container: Container, epoch_time: int, directories: Sequence[str], generated: Generated
) -> None:
    plan = ctx.plan
    container.exec(
        fpm_command(plan, directories, generated),
        # fpm also reads options from $FPMOPTS, ./.fpm and ~/.fpm: none of them here
        env={"FPMOPTS": "", "HOME": CONTAINER_WORKDIR, "SOURCE_DATE_EPOCH": str(epoch_time)},
        workdir=CONTAINER_WORKDIR,
        log=ctx.log,
    )


def _package_with_nfpm(
    ctx: BuildContext,
    container: Container,
    epoch_time: int,
    entries: list[Entry],
    directories: Sequence[str],
    generated: Generated,
) -> None:
    """nfpm's configuration and the scriptlets fpm would make of the hooks, copied in, then nfpm."""
    plan = ctx.plan
    scripts = fpm_style_scripts(hook_texts(plan))
    config = nfpm_config(
        with_generated({**(plan.nfpm_config or {}), "mtime": _rfc3339(epoch_time)}, generated),
        plan.loaded.recipe.files.config,
        entries,
        owned_directories(directories, entries),
        staging=CONTAINER_DESTDIR,
        scripts={key: f"{CONTAINER_TOOLS_DIR}/scripts/{key}" for key in scripts},
    )
    items = [Item(f"{CONTAINER_TOOLS_DIR}/nfpm.yaml", data=json.dumps(config, indent=1).encode())]
    for key, text in scripts.items():
        items.append(Item(f"{CONTAINER_TOOLS_DIR}/scripts/{key}", data=text.encode()))
    container.put(items)
    container.exec(nfpm_argv(plan), log=ctx.log)


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
    if needed and (alongside := [*ctx.siblings, *published_providers(ctx)]):
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


def published_providers(ctx: BuildContext) -> list[Path]:
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
