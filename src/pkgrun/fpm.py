"""fpm's command line from a recipe, as a pure function. Nothing here runs fpm.

The order of the flags follows the seed's hand-typed commands, so that the generated argv
reads like them; what the seed did not pass (metadata, config files, payload compression,
the output path) comes after its flags and before the packaged paths.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from pkgrun.recipe import Recipe
from pkgrun.targets import Target


@dataclass(frozen=True)
class FpmPaths:
    """Where things are for the fpm that runs (inside the build container, so POSIX paths)."""

    staging: str  # the DESTDIR the build installed into: fpm -C
    workdir: str  # fpm's scratch space: --workdir
    hooks: str  # where pkgrun put the hook scripts for rpmbuild (see spec_escape)
    package: str  # the RPM file to write: -p


def spec_escape(text: str) -> str:
    """Text as fpm must be given it to reach the RPM unchanged. fpm writes metadata and hooks
    into an rpm spec file verbatim, and rpmbuild expands macros there (``%{_host}``,
    ``%(command)``): ``%%`` is a literal ``%``. (A hook line that starts with ``%`` would still
    open a spec section; loading a recipe refuses it.)"""
    return text.replace("%", "%%")


def release(recipe: Recipe, target: Target, iteration: str | None = None) -> str:
    """RPM's Release: the iteration plus the target's dist tag, 3 -> 3.el7."""
    return f"{iteration or recipe.package.iteration}.{target.dist}"


def rpm_filename(recipe: Recipe, version: str, target: Target, iteration: str | None = None) -> str:
    """The file name rpmbuild gives the package: NAME-VERSION-RELEASE.ARCH.rpm."""
    pkg = recipe.package
    return f"{pkg.name}-{version}-{release(recipe, target, iteration)}.{pkg.arch}.rpm"


def fpm_argv(
    recipe: Recipe,
    version: str,
    target: Target,
    paths: FpmPaths,
    iteration: str | None = None,
    directories: Sequence[str] | None = None,
) -> list[str]:
    """``directories``: [files] directories with their patterns expanded, once the build has
    run; the recipe's own list until then."""
    pkg, files = recipe.package, recipe.files
    argv = ["fpm", "-f", "-s", "dir", "-t", "rpm"]
    argv += ["-n", pkg.name, "--epoch", str(pkg.epoch), "-v", version]
    argv += ["--iteration", release(recipe, target, iteration)]
    argv += ["-C", paths.staging]
    for requirement in recipe.requires_for(target):
        argv += ["-d", requirement]
    for hook, script in recipe.hooks.items():
        argv += [f"--{hook}", posixpath.join(paths.hooks, script)]
    argv += ["--workdir", paths.workdir]
    # What the seed left to fpm's defaults, made explicit: fpm would otherwise take the
    # architecture and the maintainer from the machine it runs on.
    argv += ["-a", pkg.arch, "-p", paths.package]
    # sha256 file digests: fpm's default is md5, which FIPS-mode el8/el9 hosts refuse to install
    argv += ["--rpm-compression", target.payload_compression, "--rpm-digest", "sha256"]
    description = pkg.description.strip() or pkg.summary
    argv += ["--rpm-summary", spec_escape(pkg.summary), "--description", spec_escape(description)]
    argv += ["--license", spec_escape(pkg.license), "--url", spec_escape(pkg.url)]
    argv += ["-m", spec_escape(pkg.maintainer)]
    if pkg.vendor:
        argv += ["--vendor", spec_escape(pkg.vendor)]
    for path in files.config:
        argv += ["--config-files", path]
    for path in files.directories if directories is None else directories:
        argv += ["--directories", path]
    argv += recipe.fpm.args
    # `--` ends fpm's options: no packaged path can ever read as one
    return argv + ["--", *files.paths]
