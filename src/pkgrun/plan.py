"""A build plan: one recipe resolved against a version, an iteration and a target.

The recipe says what its author wrote; the plan says what a build of it will do, with every
value decided: the source file and checksum, the image, the build environment, fpm's argv and
where the RPM lands. ``make_plan`` is pure, so `pkgrun plan` shows exactly what a build runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgrun.errors import UsageError
from pkgrun.fpm import FpmPaths, fpm_argv, release, rpm_filename
from pkgrun.recipe import rpm_version_rule
from pkgrun.recipe_dir import LoadedRecipe
from pkgrun.targets import PackageFamily, Target

# The layout inside the build container. The recipe and the source are mounted read-only.
CONTAINER_RECIPE_DIR = "/pkgrun/recipe"
CONTAINER_SOURCE_DIR = "/pkgrun/source"
CONTAINER_SRCDIR = "/pkgrun/build/src"  # the unpacked source, the build script's working directory
CONTAINER_DESTDIR = "/pkgrun/destdir"  # the staging directory: fpm -C
CONTAINER_WORKDIR = "/pkgrun/work"  # fpm --workdir
CONTAINER_OUT_DIR = "/pkgrun/out"
CONTAINER_TOOLS_DIR = "/pkgrun/tools"  # what pkgrun writes for the packager (read-only)
CONTAINER_HOOKS_DIR = CONTAINER_TOOLS_DIR + "/hooks"  # hooks escaped for rpmbuild (fpm)


@dataclass(frozen=True)
class ResolvedSource:
    filename: str
    sha256: str
    url: str | None  # a download URL, or
    pypi: str | None  # a PyPI project, fetched through pip's configured index


@dataclass(frozen=True)
class BuildPlan:
    loaded: LoadedRecipe
    target: Target
    version: str
    iteration: str
    release: str
    source: ResolvedSource
    build_requires: list[str]
    requires: list[str]
    build_env: dict[str, str]
    fpm_argv: list[str]
    rpm: Path  # where the RPM lands on the host
    steps: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def nevra(self) -> str:
        pkg = self.loaded.recipe.package
        return f"{pkg.name}-{pkg.epoch}:{self.version}-{self.release}.{pkg.arch}"

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
                "image": self.target.base_image,
                "family": self.target.family.value,
                "metadata_compression": self.target.metadata_compression,
            },
            "source": {
                "filename": self.source.filename,
                "sha256": self.source.sha256,
                "url": self.source.url,
                "pypi": self.source.pypi,
            },
            "build_requires": self.build_requires,
            "requires": self.requires,
            "build_script": self.loaded.recipe.build.script,
            "build_env": self.build_env,
            "steps": self.steps,
            "fpm_argv": self.fpm_argv,
            "fpm_command": shlex.join(self.fpm_argv),
            "rpm": str(self.rpm),
        }


def make_plan(
    loaded: LoadedRecipe,
    target: Target,
    *,
    out_dir: Path,
    jobs: int,
    version: str | None = None,
    iteration: str | None = None,
) -> BuildPlan:
    recipe = loaded.recipe
    pkg = recipe.package
    version = version or recipe.default_version(target)
    iteration = _checked_iteration(iteration) if iteration else pkg.iteration
    source = resolve_source(loaded, version)
    rel = release(recipe, target, iteration)
    filename = rpm_filename(recipe, version, target, iteration)
    paths = FpmPaths(
        staging=CONTAINER_DESTDIR,
        workdir=CONTAINER_WORKDIR,
        hooks=CONTAINER_HOOKS_DIR,
        package=f"{CONTAINER_OUT_DIR}/{filename}",
    )
    build_env = {
        "PKGRUN_NAME": pkg.name,
        "PKGRUN_VERSION": version,
        "PKGRUN_RELEASE": rel,
        "PKGRUN_ARCH": pkg.arch,
        "PKGRUN_TARGET": target.name,
        "PKGRUN_DIST": target.dist,
        "PKGRUN_FAMILY": target.family.value,
        "PKGRUN_JOBS": str(jobs),
        "PKGRUN_SOURCE": f"{CONTAINER_SOURCE_DIR}/{source.filename}",
        "PKGRUN_SRCDIR": CONTAINER_SRCDIR,
        "PKGRUN_DESTDIR": CONTAINER_DESTDIR,
        "PKGRUN_RECIPE_DIR": CONTAINER_RECIPE_DIR,
    }
    build_requires = recipe.build_requires_for(target)
    if recipe.build.recipes and target.family is PackageFamily.APT and "rpm" not in build_requires:
        build_requires.append("rpm")  # to install the packages of the recipes it needs
    argv = fpm_argv(recipe, version, target, paths, iteration)
    rpm = out_dir / filename
    origin = source.url or f"PyPI project {source.pypi!r} (pip's configured index)"
    steps = [
        f"fetch {source.filename} from {origin} into the cache and verify sha256 {source.sha256}",
        f"prepare the build image: {target.base_image} plus {len(build_requires)} build "
        f"requirement(s) ({target.family.value}), cached by their hash",
        "start a fresh container with no network; the recipe and the source mounted read-only",
        f"unpack {source.filename} into {CONTAINER_SRCDIR}",
        f"run {recipe.build.script} with bash in {CONTAINER_SRCDIR}, installing into {CONTAINER_DESTDIR}",
        f"add {len(recipe.files.add)} file(s) from the recipe and "
        f"{len(recipe.files.directories)} owned directory(ies) to the staging directory",
        f"package with fpm: {pkg.name} {version}-{rel} ({pkg.arch})",
        "read the RPM back and check it against the recipe",
        f"copy the RPM to {rpm}; remove the container",
    ]
    return BuildPlan(
        loaded=loaded,
        target=target,
        version=version,
        iteration=iteration,
        release=rel,
        source=source,
        build_requires=build_requires,
        requires=recipe.requires_for(target),
        build_env=build_env,
        fpm_argv=argv,
        rpm=rpm,
        steps=steps,
    )


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
