"""A build plan: one recipe resolved against a version, an iteration, a target and the run's
options. The single truth of what a build does.

The recipe says what its author wrote; the plan says what a build of it will do, with every
value decided: the source file and checksum, the packager and what it is given, the image, the
build environment, where everything lies inside the container and where the RPM lands, and the
steps, in the order the build runs them. ``make_plan`` is pure (it imports nothing that starts
a process): `pkgrun plan` prints exactly the plan a build then runs, and a build reports each
step under the plan's name for it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pkgrun.build.fpm import FpmPaths, fpm_argv, release, rpm_filename
from pkgrun.build.nfpm import nfpm_base
from pkgrun.build.plan_steps import PlanStep as PlanStep  # callers take them from here too
from pkgrun.build.plan_steps import Step as Step
from pkgrun.build.plan_steps import steps_of
from pkgrun.errors import UsageError
from pkgrun.recipe.model import LoadedRecipe, Recipe
from pkgrun.recipe.schema import rpm_version_rule
from pkgrun.targets import Packager, Target

# The layout inside the build container.
CONTAINER_RECIPE_DIR = "/pkgrun/recipe"
CONTAINER_SOURCE_DIR = "/pkgrun/source"
CONTAINER_SRCDIR = "/pkgrun/build/src"  # the unpacked source, the build script's working directory
CONTAINER_DESTDIR = "/pkgrun/destdir"  # the staging directory: fpm -C
CONTAINER_WORKDIR = "/pkgrun/work"  # fpm --workdir
CONTAINER_OUT_DIR = "/pkgrun/out"
CONTAINER_TOOLS_DIR = "/pkgrun/tools"  # what pkgrun writes for the packager
CONTAINER_HOOKS_DIR = CONTAINER_TOOLS_DIR + "/hooks"  # hooks escaped for rpmbuild (fpm)
CONTAINER_NFPM = "/pkgrun/bin/nfpm"
CONTAINER_CHANGELOG = CONTAINER_TOOLS_DIR + "/changelog"  # fpm's %changelog, dated SOURCE_DATE_EPOCH
CONTAINER_DEPENDENCIES_DIR = "/pkgrun/deps"  # RPMs of [build] recipes
CONTAINER_CCACHE_DIR = "/pkgrun/ccache"  # the recipe's ccache volume
CONTAINER_CCACHE_BIN = "/pkgrun/ccache-bin"  # cc, gcc, c++, g++ as links to ccache
CONTAINER_COMPILED = "/pkgrun/compiled.tar"  # a kept compile's staging directory, copied in
# what the build's PATH is, the compilers' ccache links first when ccache is on
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ResolvedSource:
    filename: str
    sha256: str
    url: str | None  # a download URL, or
    pypi: str | None  # a PyPI project, fetched through pip's configured index


@dataclass(frozen=True)
class Options:
    """What a run does besides building: the steps a plan includes."""

    lint: bool = True
    install_test: bool = True
    publish: bool = True
    sign: bool = True
    make_jobs: int = 1
    compile_cache: bool = True  # reuse a kept compile of the same inputs, and keep this one
    recompile: bool = False  # compile even when a compile of the same inputs is kept
    ccache: str | None = "2G"  # the recipe's compiler cache volume's size; None: no ccache
    # the volume's name prefix (<prefix>-<target>-<recipe>); None: a cold cache in the container
    # (a rebuild that checks reproducibility compiles everything)
    ccache_volume: str | None = "pkgrun-ccache"


@dataclass(frozen=True)
class BuildPlan:
    loaded: LoadedRecipe
    target: Target
    version: str
    iteration: str
    release: str
    source: ResolvedSource
    packager: Packager
    build_requires: tuple[str, ...]
    requires: tuple[str, ...]  # the package's Requires as the recipe says them
    hook_requires: tuple[str, ...]  # what the hooks run: Requires(pre,...) with fpm
    build_env: dict[str, str]
    fpm_paths: FpmPaths
    # what the packager is given: fpm's argv (the [files] directories as patterns until the
    # build has run), or nfpm's configuration without its file list (which the build makes)
    fpm_argv: tuple[str, ...] | None
    nfpm_config: dict[str, Any] | None
    rpm: Path  # where the RPM lands on the host
    options: Options
    steps: tuple[PlanStep, ...]
    # the named volume that holds this recipe's ccache on this target (one per recipe, so that
    # no recipe's build can plant objects in another's); None without ccache
    ccache_volume: str | None = None

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    @property
    def nevra(self) -> str:
        pkg = self.loaded.recipe.package
        return f"{pkg.name}-{pkg.epoch}:{self.version}-{self.release}.{pkg.arch}"

    @property
    def container_rpm(self) -> str:
        return f"{CONTAINER_OUT_DIR}/{self.rpm.name}"

    def to_json(self) -> dict[str, Any]:
        pkg = self.loaded.recipe.package
        return {
            "name": pkg.name,
            "version": self.version,
            "epoch": pkg.epoch,
            "iteration": self.iteration,
            "release": self.release,
            "arch": pkg.arch,
            "nevra": self.nevra,
            "recipe": str(self.loaded.file),
            "target": {
                "name": self.target.name,
                "dist": self.target.dist,
                "image": self.target.from_image,
                "family": self.target.family.value,
                "metadata_compression": self.target.metadata_compression,
            },
            "source": {
                "filename": self.source.filename,
                "sha256": self.source.sha256,
                "url": self.source.url,
                "pypi": self.source.pypi,
            },
            "packager": self.packager.value,
            "build_requires": list(self.build_requires),
            "requires": list(self.requires),
            "hook_requires": list(self.hook_requires),
            "build_recipes": list(self.loaded.recipe.build.recipes),
            "build_script": self.loaded.recipe.build.script,
            "build_env": self.build_env,
            "ccache_volume": self.ccache_volume,
            "steps": [{"name": s.name, "text": s.text} for s in self.steps],
            "fpm_argv": list(self.fpm_argv) if self.fpm_argv else None,
            "fpm_command": shlex.join(self.fpm_argv) if self.fpm_argv else None,
            "nfpm_config": self.nfpm_config,
            "rpm": str(self.rpm),
        }


def make_plan(
    loaded: LoadedRecipe,
    target: Target,
    *,
    out_dir: Path,
    options: Options,
    version: str | None = None,
    iteration: str | None = None,
    packager: Packager | None = None,
) -> BuildPlan:
    recipe = loaded.recipe
    version = version or recipe.default_version(target)
    iteration = _checked_iteration(iteration) if iteration else recipe.package.iteration
    source = resolve_source(loaded, version)
    packager = choose_packager(loaded, target, packager)
    rel = release(recipe, target, iteration)
    filename = _checked_rpm_filename(recipe, version, target, iteration)
    paths = _container_paths(filename)
    build_env = _build_env(recipe, version, target, source, options)
    build_requires = _build_requires(recipe, target, options)
    requires = recipe.requires_for(target)
    hook_requires = recipe.hook_requires_for(target)
    fpm = fpm_argv(recipe, version, target, paths, iteration) if packager is Packager.FPM else None
    nfpm = (
        _nfpm_config(recipe, version, rel, target, requires, hook_requires)
        if packager is Packager.NFPM
        else None
    )
    plan = BuildPlan(
        loaded=loaded,
        target=target,
        version=version,
        iteration=iteration,
        release=rel,
        source=source,
        packager=packager,
        build_requires=tuple(build_requires),
        requires=tuple(requires),
        hook_requires=tuple(hook_requires),
        build_env=build_env,
        fpm_paths=paths,
        fpm_argv=tuple(fpm) if fpm else None,
        nfpm_config=nfpm,
        rpm=out_dir / filename,
        options=options,
        steps=(),
        ccache_volume=_ccache_volume(options, target, recipe),
    )
    return replace(plan, steps=steps_of(plan))


def _checked_rpm_filename(recipe: Recipe, version: str, target: Target, iteration: str) -> str:
    """The RPM's file name, refused when no file system could hold it."""
    filename = rpm_filename(recipe, version, target, iteration)
    if len(filename.encode()) > 255:
        raise UsageError(
            f"the RPM's file name {filename[:60]}... is longer than 255 bytes", hint="shorten it"
        )
    return filename


def _container_paths(filename: str) -> FpmPaths:
    """Where the packager finds the staging directory, its work directory, the hooks and the
    changelog inside the build container, and where it writes the RPM ``filename``."""
    return FpmPaths(
        staging=CONTAINER_DESTDIR,
        workdir=CONTAINER_WORKDIR,
        hooks=CONTAINER_HOOKS_DIR,
        package=f"{CONTAINER_OUT_DIR}/{filename}",
        changelog=CONTAINER_CHANGELOG,
    )


def _build_env(
    recipe: Recipe, version: str, target: Target, source: ResolvedSource, options: Options
) -> dict[str, str]:
    """The environment the build script runs in: what it builds, for where, and where things lie."""
    pkg = recipe.package
    build_env = {
        "PKGRUN_NAME": pkg.name,
        "PKGRUN_VERSION": version,
        "PKGRUN_ARCH": pkg.arch,
        "PKGRUN_TARGET": target.name,
        "PKGRUN_DIST": target.dist,
        "PKGRUN_FAMILY": target.family.value,
        "PKGRUN_JOBS": str(options.make_jobs),
        "PKGRUN_SOURCE": f"{CONTAINER_SOURCE_DIR}/{source.filename}",
        "PKGRUN_SRCDIR": CONTAINER_SRCDIR,
        "PKGRUN_DESTDIR": CONTAINER_DESTDIR,
        "PKGRUN_RECIPE_DIR": CONTAINER_RECIPE_DIR,
    }
    if options.ccache:
        # cc, gcc, c++, g++ are links to ccache (which runs the compiler of that name next in
        # PATH): a build script needs no change to use it, whatever its compiler's name
        build_env |= {
            "PATH": f"{CONTAINER_CCACHE_BIN}:{_PATH}",
            "CCACHE_DIR": CONTAINER_CCACHE_DIR,
            "CCACHE_MAXSIZE": options.ccache,
        }
    return build_env


def _build_requires(recipe: Recipe, target: Target, options: Options) -> list[str]:
    """The recipe's build requirements on ``target``, with what pkgrun itself runs in the build."""
    build_requires = recipe.build_requires_for(target)
    if recipe.build.recipes and target.build_image_needs_rpm and "rpm" not in build_requires:
        build_requires.append("rpm")  # to install the packages of the recipes it needs
    if options.ccache and "ccache" not in build_requires:
        build_requires.append("ccache")
    return build_requires


def _nfpm_config(
    recipe: Recipe,
    version: str,
    rel: str,
    target: Target,
    requires: list[str],
    hook_requires: list[str],
) -> dict[str, Any]:
    """nfpm's configuration without its file list (which the build makes)."""
    # what rpmbuild adds by itself, nfpm is given: /bin/sh for the scriptlets; and nfpm has
    # no Requires(pre), so what the hooks run is a plain Requires (which rpm orders first)
    interpreter = ["/bin/sh"] if recipe.hooks.items() else []
    depends = list(dict.fromkeys([*requires, *hook_requires, *interpreter]))
    return nfpm_base(recipe, version, rel, target, depends)


def _ccache_volume(options: Options, target: Target, recipe: Recipe) -> str | None:
    """The named volume of the recipe's ccache on ``target``; None without one."""
    if options.ccache and options.ccache_volume:
        return volume_name(options.ccache_volume, target.name, recipe.name)
    return None


def volume_name(prefix: str, target: str, recipe: str) -> str:
    """The ccache volume of ``recipe`` on ``target``: ``<prefix>-<target>-<recipe>``, readable,
    in what engines accept ([A-Za-z0-9][A-Za-z0-9_.-]*), and never the same for two (target,
    recipe) pairs: every character a name cannot hold, and '_' itself, becomes '_' and its
    UTF-8 bytes in hex (libstdc++ -> libstdc_2b_2b, lib_x -> lib_5fx), which reads back one way
    only; the target's '-' is escaped too, so the first '-' after the prefix ends it."""
    return f"{prefix}-{_escaped(target, keep='.')}-{_escaped(recipe, keep='.-')}"


def _escaped(text: str, keep: str) -> str:
    return "".join(
        c if (c.isascii() and c.isalnum()) or c in keep else "".join(f"_{b:02x}" for b in c.encode())
        for c in text
    )


def choose_packager(loaded: LoadedRecipe, target: Target, choice: Packager | None) -> Packager:
    """The target's packager unless another is asked for; a choice the target's image or the
    recipe cannot honour is refused before any work."""
    packager = choice or target.packager
    if packager not in target.packagers:
        raise UsageError(
            f"the {target.name} build image carries no {packager}",
            hint=f"use --packager {target.packager} (it makes the same RPM), or an el target",
        )
    if packager is Packager.NFPM and loaded.recipe.fpm.args:
        raise UsageError(
            f"{loaded.name} passes fpm flags ({' '.join(loaded.recipe.fpm.args)}) that nfpm cannot honour",
            hint="build it with --packager fpm on an el target, or model the flag in the recipe",
        )
    return packager


def resolve_source(loaded: LoadedRecipe, version: str) -> ResolvedSource:
    recipe = loaded.recipe
    src, name = recipe.source, recipe.name
    if version not in src.sha256:
        filename = src.filename(name, version)
        known = ", ".join(src.sha256)
        raise UsageError(
            f"{name} has no checksum for version {version} (known: {known})",
            hint=(
                f"download {filename}, run `sha256sum {filename}` and add the line\n"
                f'    "{version}" = "<the sha256>"\n'
                f"under [source.sha256] in {loaded.file}"
            ),
        )
    return ResolvedSource(
        filename=src.filename(name, version),
        sha256=src.sha256[version],
        url=src.url_for(name, version),
        pypi=src.pypi,
    )


def _checked_iteration(iteration: str) -> str:
    try:
        return rpm_version_rule("iteration")(iteration)
    except ValueError as exc:
        raise UsageError(f"--iteration: {exc}") from None
