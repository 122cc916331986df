"""fpm's command line from a recipe, as a pure function. Nothing here runs fpm.

The order of the flags follows the seed's hand-typed commands, so that the generated argv
reads like them; what the seed did not pass (metadata, config files, payload compression,
the output path) comes after its flags and before the packaged paths.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pkgrun.build.autodeps import NOTHING, Generated
from pkgrun.recipe.model import Recipe
from pkgrun.targets import Target


@dataclass(frozen=True)
class FpmPaths:
    """Where things are for the fpm that runs (inside the build container, so POSIX paths)."""

    staging: str  # the DESTDIR the build installed into: fpm -C
    workdir: str  # fpm's scratch space: --workdir
    hooks: str  # where pkgrun put the hook scripts for rpmbuild (see spec_escape)
    package: str  # the RPM file to write: -p
    changelog: str = ""  # the %changelog pkgrun writes (changelog_text); "" for none


# the scriptlet each hook becomes (fpm wraps upgrade hooks into the install scriptlets)
_SCRIPTLET = {
    "before-install": "pre",
    "before-upgrade": "pre",
    "after-install": "post",
    "after-upgrade": "post",
    "before-remove": "preun",
    "after-remove": "postun",
}


def scriptlet_kinds(recipe: Recipe) -> list[str]:
    """The scriptlets the package has, in rpm's order: what Requires(...) of the hooks names."""
    present = {_SCRIPTLET[hook] for hook, _ in recipe.hooks.items()}
    return [kind for kind in ("pre", "post", "preun", "postun") if kind in present]


# What rpmbuild records of the machine and the clock, fixed (rpm >= 4.14: el8, el9, el10; el7's rpm
# 4.11 honours none of them and stamps the build time). SOURCE_DATE_EPOCH is in fpm's
# environment. No /usr/lib/.build-id links: the package holds exactly the staged files.
REPRODUCIBLE_DEFINES = (
    "_buildhost pkgrun",
    "use_source_date_epoch_as_buildtime 1",
    "clamp_mtime_to_source_date_epoch 1",
    "_build_id_links none",
)


def changelog_text(recipe: Recipe, version: str, release: str, epoch_time: int) -> str:
    """The one %changelog entry, dated SOURCE_DATE_EPOCH (rpm's day format)."""
    day = time.strftime("%a %b %d %Y", time.gmtime(epoch_time))
    return spec_escape(f"* {day} {recipe.package.maintainer} - {version}-{release}\n- built by pkgrun\n")


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
    generated: Generated = NOTHING,
) -> list[str]:
    """``directories``: [files] directories with their patterns expanded, once the build has
    run; the recipe's own list until then. ``generated``: what rpm's generators found in the
    staged files (autodeps), once the build has run: fpm's spec keeps AutoReqProv off, and
    is given the same list as nfpm."""
    pkg, files = recipe.package, recipe.files
    argv = ["fpm", "-f", "-s", "dir", "-t", "rpm"]
    argv += ["-n", pkg.name, "--epoch", str(pkg.epoch), "-v", version]
    argv += ["--iteration", release(recipe, target, iteration)]
    argv += ["-C", paths.staging]
    for requirement in dict.fromkeys([*recipe.requires_for(target), *generated.requires]):
        argv += ["-d", requirement]
    for capability in generated.provides:
        argv += ["--provides", capability]
    if kinds := scriptlet_kinds(recipe):
        for requirement in recipe.hook_requires_for(target):
            argv += ["--rpm-tag", f"Requires({','.join(kinds)}): {requirement}"]
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
    if paths.changelog:
        # fpm would date its own %changelog today: a package built tomorrow would differ
        argv += ["--rpm-changelog", paths.changelog]
    for define in REPRODUCIBLE_DEFINES:
        argv += ["--rpm-rpmbuild-define", define]
    argv += recipe.fpm.args
    # `--` ends fpm's options: no packaged path can ever read as one
    return argv + ["--", *files.paths]
