"""What a finished build becomes in the repository: the next free release when its NEVRA is
published already, the published package it equals apart from release and signature (then
nothing new is published), and the publish itself, with the record of its inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkgrun import buildcache, competitors
from pkgrun.build import Steps
from pkgrun.build_result import BuildResult
from pkgrun.errors import UsageError
from pkgrun.plan import BuildPlan, Step, make_plan
from pkgrun.repo import Published, publish_rpms
from pkgrun.repodata import published_releases
from pkgrun.report import Reporter
from pkgrun.rpmheader import read_header, release_free_digest
from pkgrun.settings import Settings
from pkgrun.signing import SigningKey


def deliver(
    result: BuildResult,
    inputs: buildcache.Inputs,
    settings: Settings,
    reporter: Reporter,
    key: SigningKey | None = None,
) -> list[Published]:
    """The end of every build: record what it was made of and publish it, under the lock."""
    plan = result.plan
    if result.install_test is not None:  # advice for `pkgrun check`: what else offers the name
        competitors.record(settings.state_dir, plan.target.dist, plan.name, result.install_test.competitors)
    entry = buildcache.entry(inputs, result.info.nevra, result.rpm.name, plan.iteration, result.full_seconds)
    steps = Steps(reporter, plan.name)
    with steps(Step.PUBLISH, f"publish into {settings.repo / plan.target.dist}"):
        return publish_rpms(
            [result.rpm],
            settings.repo,
            plan.target,
            records=settings.state_dir,
            reporter=reporter,
            force=settings.force,
            keep=settings.keep,
            index={buildcache.key(plan): entry},
            key=key,
        ).published


def published_twin(result: BuildResult, settings: Settings) -> Path | None:
    """The newest published release of the package's version, when the new package equals it
    apart from release and signature (a rebuild for a dependency's new release that changes
    nothing in it): then there is nothing new to publish."""
    plan = result.plan
    same_version = [
        (evr, path)
        for evr, path in published_releases(settings.repo, plan.target.dist, plan.name)
        if evr.key[1] == plan.version and path.is_file()
    ]
    if not same_version:
        return None
    newest = max(same_version, key=lambda item: item[0])[1]
    base, published = plan.loaded.recipe.package.iteration, iteration_of(newest, plan)
    if published != base and not published.startswith(base + "."):
        return None  # the recipe asks for a new release (its iteration changed): it gets one
    return newest if release_free_digest(newest) == release_free_digest(result.rpm) else None


def iteration_of(rpm: Path, plan: BuildPlan) -> str:
    """The iteration a published package was built with: its release without the dist tag."""
    return read_header(rpm).release.removesuffix("." + plan.target.dist)


class ReleaseTaken(UsageError):
    """The iteration a user named is published already: refused before any work."""


def is_published(plan: BuildPlan, settings: Settings) -> bool:
    """Whether the plan's NEVRA, or a next release of it (3.1 for 3, left when retention pruned
    3), is published already: a build of that release would never reach a server."""
    return buildcache.family_published(plan.iteration, _published_iterations(plan, settings))


def named_release(plan: BuildPlan, settings: Settings, *, explicit: bool) -> tuple[BuildPlan, str | None]:
    """The one rule for a build whose NEVRA is published already, in `pkgrun build` as in the
    nightly job, decided before any work: the build takes the next free release (3 -> 3.1, which
    rpm orders after it; a package that equals the published one apart from its release is then
    not published again), or, when the user named the iteration (``explicit``), it is refused
    here, saying which line to change. --force keeps the release and replaces the package. The
    plan the build runs, and what to say of its release (None: the recipe's, nothing to say)."""
    if not is_published(plan, settings):
        return plan, None
    nevra = f"{plan.name}-{plan.version}-{plan.release}"
    taken = (
        f"{nevra} is published already"
        if plan.iteration in _published_iterations(plan, settings)
        else f"a later release of {nevra} is published already"
    )
    if settings.force:
        return plan, f"{taken}: --force replaces it"
    free = with_free_release(plan, settings)
    if explicit:
        raise ReleaseTaken(
            f"{taken}, and --iteration {plan.iteration} names it: a published release never changes",
            hint="nothing was built; drop --iteration (the build then takes the next free release, "
            f"{free.iteration}), or name a new one; "
            + iteration_line(plan, "to keep the recipe in step, raise", free.iteration),
        )
    return free, (
        f"{taken}: this build is {free.release}, the next free release (not published if it equals "
        f"the published package apart from its release); "
        + iteration_line(plan, "to name it, raise", free.iteration)
    )


def iteration_line(plan: BuildPlan, what: str, free: str) -> str:
    """Where the recipe's iteration is set (its file and line, or where to add one) and the
    lowest free iteration it may be raised to."""
    path = plan.loaded.file
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if line.split("=", 1)[0].strip() == "iteration":
            return f'{what} {line.split("#", 1)[0].strip()} in {path}:{number} to "{free}" or higher'
    return f'{what} the iteration: add iteration = "{free}" or higher to [package] in {path}'


def _published_iterations(plan: BuildPlan, settings: Settings) -> list[str]:
    dist = "." + plan.target.dist
    return [
        evr.key[2].removesuffix(dist)
        for evr, _ in published_releases(settings.repo, plan.target.dist, plan.name)
        if evr.key[1] == plan.version
    ]


def with_free_release(plan: BuildPlan, settings: Settings) -> BuildPlan:
    """The plan with the next free iteration when its NEVRA is published already: a rebuild with
    changed inputs gets a new release instead of clashing with the published one."""
    iteration = buildcache.next_iteration(plan.iteration, _published_iterations(plan, settings))
    if iteration == plan.iteration:
        return plan
    return replanned(plan, settings, iteration=iteration)


def replanned(plan: BuildPlan, settings: Settings, **changes: Any) -> BuildPlan:
    """``plan`` made again with another iteration or options."""
    return make_plan(
        plan.loaded,
        plan.target,
        out_dir=settings.out_dir,
        options=changes.get("options", plan.options),
        version=plan.version,
        iteration=changes.get("iteration", plan.iteration),
        packager=plan.packager,
    )
