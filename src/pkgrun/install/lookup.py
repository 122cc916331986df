"""The package names a recipe requires, looked up in the target's repositories before anything
is compiled: a name that does not exist fails the image step naming the recipe's field, not the
build image's package manager with its exit status, nor the install test after packaging.

Each list is looked up where it is installed: [build.requires] from the target's build image
before the requirements go into it, [requires] and [hooks.requires] from its runtime image (the
install test's), each in a container with the network, by the target's own package manager
(Target.lookup). A name that pkgrun's own repository provides (a package published before, its
soname) is found there, as a server finds it. Names all found are remembered in the cache
directory by the image, the names and the script, so a build of an unchanged recipe asks nothing.

With the names found, the runtime image gets the requirements installed (an image built once,
the one the install test of a local package starts from) and its directories are listed: the
directories that exist where the package is installed, which staging checks the package's files
against (a directory neither the package nor the system has would be left behind).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pkgrun.build.plan import BuildPlan
from pkgrun.engine import images
from pkgrun.engine.container import Engine, image_id, start_container
from pkgrun.errors import EXIT_BAD_INPUT, PkgrunError
from pkgrun.install.install_test import runtime_requirements
from pkgrun.repo.data import DistView
from pkgrun.report import Reporter
from pkgrun.rpm.query import read_rpm
from pkgrun.targets import PackageFamily, RuntimeDeps, Target, apt_installable

LOOKUPS_DIR = "lookups"


@dataclass(frozen=True)
class Names:
    """One list of a recipe's requirements: its field, as the recipe spells it, and the names."""

    field: str  # requires.yum, build.requires.el7, hooks.requires.apt
    names: tuple[str, ...]


def field_of(table: str, keys: Sequence[str], target: Target) -> str:
    """The recipe field a target's list comes from: its own key, else its family's (pure)."""
    return f"{table}.{target.name if target.name in keys else target.family.value}"


def looked_up_names(requirements: Sequence[str], target: Target, own: Sequence[str] = ()) -> tuple[str, ...]:
    """The names to look up: a requirement's name without its version, none of the recipes'
    own packages (``own``); on apt targets only what apt installs by name (a path or a soname is
    a file the image has or lacks, which the install test's shim checks) (pure)."""
    out: list[str] = []
    for requirement in requirements:
        words = requirement.split()
        if not words or words[0] in own or words[0] in out:
            continue
        if target.family is PackageFamily.APT and not apt_installable(requirement):
            continue
        out.append(words[0])
    return tuple(out)


def lookup_argv(target: Target, names: Sequence[str]) -> list[str]:
    return ["sh", "-c", target.lookup, "sh", *names]


class UnknownPackages(PkgrunError):
    """Names in a recipe's requirements that the target's repositories do not have."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        recipe: Path,
        lists: Sequence[tuple[Names, Sequence[str]]],
        target: Target,
        providers: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``providers``: the packages that provide a virtual name none of which is installed
        (apt installs none of them by that name: one must be chosen)."""
        providers = providers or {}

        def said(name: str) -> str:
            by = providers.get(name)
            return f"{name} (a virtual package: name one of {', '.join(by)})" if by else name

        where = "; ".join(f"{names.field}: {', '.join(map(said, missing))}" for names, missing in lists)
        super().__init__(
            f"{recipe}: {sum(len(m) for _, m in lists)} requirement(s) that {target.name}'s repositories "
            f"do not have ({where})",
            hint=f"use the names {target.name}'s package manager knows ({target.family.value} names: "
            f"`{target.search}` on such a system); another recipe's package goes in recipes = [...]. "
            "Nothing was compiled",
        )


def parse_lookup(output: str) -> dict[str, list[str]]:
    """The look-up script's output: each name nothing provides -> the packages that provide it
    when it is a virtual name none of them installed (after a tab) (pure)."""
    missing = {}
    for line in output.splitlines():
        name, _, by = line.partition("\t")
        if name.strip():
            missing[name.strip()] = by.split()
    return missing


def check_names(
    engine: Engine,
    target: Target,
    image: str,
    lists: Sequence[Names],
    *,
    recipe: str,
    recipe_file: Path,
    cache_dir: Path | None,
    reporter: Reporter,
) -> None:
    """Fail before the compile when a name in ``lists`` is in none of the target's repositories
    as ``image`` (which has the target's package manager and its repository set-up) sees them."""
    names = sorted({name for names in lists for name in names.names})
    if not names:
        return
    marker = _marker(engine, target, image, names, cache_dir)
    if marker is not None and marker.is_file():
        return
    with (
        reporter.step(recipe, f"look up {len(names)} required name(s) in {target.name}'s repositories"),
        start_container(engine, recipe, image, network="host") as container,
    ):
        result = container.capture(lookup_argv(target, names), check=False)
    if result.returncode:  # the repositories could not be read: the install will tell
        said = " ".join((result.stderr or result.stdout).split())[-300:]
        reporter.note(
            recipe,
            f"could not read {target.name}'s repositories to look the required names up "
            f"(exit status {result.returncode}{': ' + said if said else ''}); "
            "they are checked when installed",
        )
        return
    missing = parse_lookup(result.stdout)
    unknown = [(names, [n for n in names.names if n in missing]) for names in lists]
    if unknown := [(names, found) for names, found in unknown if found]:
        raise UnknownPackages(recipe_file, unknown, target, missing)
    if marker is not None:
        _remember(marker, names)


def _marker(
    engine: Engine, target: Target, image: str, names: Sequence[str], cache_dir: Path | None
) -> Path | None:
    """Where a lookup that found every name is remembered: by the image's ID and the names."""
    identity = image_id(engine, image)
    if cache_dir is None or identity is None:
        return None
    key = hashlib.sha256(json.dumps([target.name, target.lookup, identity, *names]).encode()).hexdigest()[:32]
    return cache_dir / LOOKUPS_DIR / key


def check_plan_names(
    engine: Engine,
    plan: BuildPlan,
    build_base: str,
    *,
    published: DistView,
    log: Path,
    reporter: Reporter,
    cache_dir: Path | None,
    alongside: Sequence[Path] = (),
) -> frozenset[str] | None:
    """A plan's requirements looked up before its compile: [build.requires] from the build
    image's base, [requires] and [hooks.requires] from the install test's image (when the plan
    has an install test, which is what installs them). Returns the directories of the runtime
    image with the requirements installed, or None when it has none to install (the build's
    own container then stands for the system)."""
    recipe, target = plan.loaded.recipe, plan.target
    look_up = partial(
        check_names,
        engine,
        target,
        recipe=plan.name,
        recipe_file=plan.loaded.file,
        cache_dir=cache_dir,
        reporter=reporter,
    )
    build = Names(
        field_of("build.requires", list(recipe.build.requires), target),
        looked_up_names(recipe.build_requires_for(target), target),
    )
    # what pkgrun's repository provides is found there, by the install test as by a server
    own = recipe.recipe_requires
    wanted = [*recipe.requires_for(target), *recipe.hook_requires_for(target)]
    found = published.provided(looked_up_names(wanted, target, own))
    run = [
        Names(
            field_of("requires", list(recipe.requires), target),
            looked_up_names(recipe.requires_for(target), target, (*own, *found)),
        ),
        Names(
            field_of("hooks.requires", list(recipe.hooks.requires), target),
            looked_up_names(recipe.hook_requires_for(target), target, (*own, *found)),
        ),
    ]
    if not plan.options.install_test or not any(names.names for names in run):
        look_up(build_base, [build])
        return None
    runtime_base = images.ensure_base_image(
        engine,
        target,
        target.runtime_containerfile,
        log=log,
        reporter=reporter,
        recipe=plan.name,
        cache_dir=cache_dir,
    )
    if runtime_base == build_base:  # one image, one look-up
        look_up(build_base, [build, *run])
    else:
        look_up(build_base, [build])
        look_up(runtime_base, run)
    if target.runtime_deps is RuntimeDeps.PREINSTALLED:  # as the install test's image has them
        offered = [read_rpm(path) for path in alongside]
        installed = [n for n in runtime_requirements(plan, offered) if n not in found]
    else:
        installed = sorted({n for names in run for n in names.names})
    image = images.ensure_build_image(
        engine,
        target,
        target.runtime_containerfile,
        runtime_base,
        installed,
        log=log,
        reporter=reporter,
        recipe=plan.name,
        kind="runtime",
    )
    return image_directories(engine, image, plan.name, cache_dir)


# Every directory of a container's own file system (not /proc, /sys, /dev: mounts of their own)
DIRECTORIES = "find / -xdev -type d -print 2>/dev/null; exit 0"


def image_directories(engine: Engine, image: str, recipe: str, cache_dir: Path | None) -> frozenset[str]:
    """The directories ``image`` has, listed once per image ID."""
    identity = image_id(engine, image)
    cached = None
    if cache_dir is not None and identity is not None:
        cached = cache_dir / LOOKUPS_DIR / f"directories-{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
        if cached.is_file():
            return frozenset(json.loads(cached.read_text()))
    with start_container(engine, f"{recipe}-dirs", image) as container:
        listed = container.capture(["sh", "-c", DIRECTORIES]).stdout
    directories = frozenset(line for line in listed.split("\n") if line.startswith("/"))
    if cached is not None:
        _remember(cached, sorted(directories))
    return directories


def _remember(path: Path, value: object) -> None:
    """Write a cache file whole or not at all (builds at once may write the same one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value) + "\n")
    os.replace(tmp, path)
