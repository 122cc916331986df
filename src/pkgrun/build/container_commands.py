"""The commands a build runs in its container to stage and package, as pure builders (their
golden argv are in tests/test_argv.py); build.py runs them."""

from __future__ import annotations

from collections.abc import Sequence

from pkgrun.build.autodeps import NOTHING, Generated
from pkgrun.build.fpm import fpm_argv
from pkgrun.build.plan import (
    CONTAINER_DESTDIR,
    CONTAINER_NFPM,
    CONTAINER_RECIPE_DIR,
    CONTAINER_TOOLS_DIR,
    BuildPlan,
)


def buildroot_argv(plan: BuildPlan) -> list[str]:
    """The staged files that hold the staging directory's path (run in the staging directory)."""
    return ["grep", "-rlsF", "--", CONTAINER_DESTDIR, *plan.loaded.recipe.files.paths]


def clamp_argv(epoch_time: int) -> list[str]:
    """Every staged file (links too: -h) dated SOURCE_DATE_EPOCH: the times in the package are
    the source's, never the build's clock, even when the source's own date is in the future."""
    return ["find", CONTAINER_DESTDIR, "-exec", "touch", "-h", "-d", f"@{epoch_time}", "{}", "+"]


def fpm_command(plan: BuildPlan, directories: Sequence[str], generated: Generated = NOTHING) -> list[str]:
    """The plan's fpm argv, its [files] directories as the build expanded their patterns, with
    the generated dependencies."""
    recipe = plan.loaded.recipe
    return fpm_argv(
        recipe,
        plan.version,
        plan.target,
        plan.fpm_paths,
        plan.iteration,
        directories=directories,
        generated=generated,
    )


def nfpm_argv(plan: BuildPlan) -> list[str]:
    return [
        CONTAINER_NFPM, "package", "--config", f"{CONTAINER_TOOLS_DIR}/nfpm.yaml",
        "--packager", "rpm", "--target", plan.container_rpm,
    ]  # fmt: skip


# Copies the recipe's [files.add] into the staging directory and creates [files.directories],
# with the modes staged_tree.staged expects (umask 022). Recipe paths arrive as arguments,
# never as shell text.
_STAGE_SCRIPT = """set -eu
umask 022
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


def hook_texts(plan: BuildPlan) -> dict[str, str]:
    return {
        hook: (plan.loaded.directory / path).read_text() for hook, path in plan.loaded.recipe.hooks.items()
    }


# Prints each path given that exists (a path is data, never shell text).
EXISTING = 'for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done'


def existing_argv(paths: Sequence[str]) -> list[str]:
    """Which of ``paths`` the container's own file system has, one per line."""
    return ["sh", "-c", EXISTING, "sh", *paths]
