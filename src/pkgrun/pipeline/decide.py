"""What a run does with one request, decided before any host is given to it: build it (with
which release), skip it (its inputs are unchanged), use the published package (a recipe a named
one needs), rebuild the published package to check it (--verify-skipped), or nothing (a recipe
it needs failed).

Pure: the request, its plan and inputs, and the repository as the run read it (DistView: the
published releases, the metadata's files, the build index) in, a Decision out. The one rule
for a build whose NEVRA is published already lives here too, the same for `pkgrun build`, the
nightly job and `pkgrun plan`: the next free release, or a refusal naming the line to change
when the user named the iteration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pkgrun.build import cache as buildcache
from pkgrun.build.plan import BuildPlan
from pkgrun.errors import UsageError
from pkgrun.pipeline.outcome import Mode
from pkgrun.repo.data import DistView
from pkgrun.repo.layout import repo_arch


class Action(StrEnum):
    BUILD = "build"
    SKIP = "skip"  # inputs unchanged: the published package stands
    USE_PUBLISHED = "use published"  # needed by a named recipe, and published
    VERIFY = "verify"  # skipped, and rebuilt to check the published package
    BLOCKED = "blocked"  # a recipe it needs failed


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    iteration: str = ""  # the iteration a build takes (the recipe's, or the next free one)
    said: str | None = None  # what to tell the user of that release, when it is not the recipe's
    published: Path | None = None  # the published package it uses, skips as, or checks
    nevra: str | None = None  # of the package a skipped build would have made

    @property
    def builds(self) -> bool:
        """Whether it takes a build host's time."""
        return self.action in (Action.BUILD, Action.VERIFY)


class ReleaseTaken(UsageError):
    """The iteration a user named is published already: refused before any work."""


def blocked_by(failed: Sequence[str]) -> Decision | None:
    """BLOCKED when recipes it needs failed (decided before its inputs are worked out, which may
    need those recipes' packages)."""
    return Decision(Action.BLOCKED, f"needs {', '.join(failed)}, which failed") if failed else None


def decide(
    mode: Mode,
    plan: BuildPlan,
    inputs: buildcache.Inputs,
    view: DistView,
    *,
    named: bool = False,
    force: bool = False,
    verify_skipped: bool = False,
    failed: Sequence[str] = (),
) -> Decision:
    """``named``: the user named the iteration; ``failed``: the recipes it needs that failed."""
    if blocked := blocked_by(failed):
        return blocked
    if mode is Mode.IF_MISSING and (published := view.newest(plan.name)):
        return Decision(
            Action.USE_PUBLISHED,
            f"needed by a named recipe: {published.name} is published",
            published=published,
        )
    if mode is Mode.IF_CHANGED:
        found = buildcache.decide(plan, inputs, view.dist_dir, set(view.listed), view.index)
        if found.build:
            return Decision(Action.BUILD, found.reason, next_iteration(plan, view))
        file = view.index.get(buildcache.key(plan), {}).get("file")
        published = view.dist_dir / repo_arch(plan.target, plan.loaded.recipe.package.arch) / str(file)
        published = published if file and published.is_file() else None
        action = Action.VERIFY if verify_skipped and published else Action.SKIP
        return Decision(action, found.reason, published=published, nevra=found.published)
    reason = "named on the command line" if mode is Mode.ALWAYS else "needed, and not published"
    iteration, said = release_for(plan, view, explicit=named, force=force)
    return Decision(Action.BUILD, f"{reason}; {said}" if said else reason, iteration, said)


def release_for(plan: BuildPlan, view: DistView, *, explicit: bool, force: bool) -> tuple[str, str | None]:
    """The iteration a build of ``plan`` takes, and what to say of it (None: the recipe's,
    nothing to say). When its NEVRA (or a next release of it, 3.1 for 3, left when retention
    pruned 3) is published, the build takes the next free release (3 -> 3.1, which rpm orders
    after it; a package that equals the published one apart from its release is then not
    published again), or, when the user named the iteration (``explicit``), it is refused here,
    saying which line to change. --force keeps the release and replaces the package."""
    published = published_iterations(plan, view)
    if not buildcache.family_published(plan.iteration, published):
        return plan.iteration, None
    nevra = f"{plan.name}-{plan.version}-{plan.release}"
    taken = (
        f"{nevra} is published already"
        if plan.iteration in published
        else f"a later release of {nevra} is published already"
    )
    if force:
        return plan.iteration, f"{taken}: --force replaces it"
    free = buildcache.next_iteration(plan.iteration, published)
    if explicit:
        raise ReleaseTaken(
            f"{taken}, and --iteration {plan.iteration} names it: a published release never changes",
            hint="nothing was built; drop --iteration (the build then takes the next free release, "
            f"{free}), or name a new one; " + iteration_line(plan, "to keep the recipe in step, raise", free),
        )
    return free, (
        f"{taken}: this build is {free}.{plan.target.dist}, the next free release (not published if it "
        f"equals the published package apart from its release); "
        + iteration_line(plan, "to name it, raise", free)
    )


def next_iteration(plan: BuildPlan, view: DistView) -> str:
    """The next free iteration when the plan's NEVRA is published already: a rebuild with
    changed inputs gets a new release instead of clashing with the published one."""
    return buildcache.next_iteration(plan.iteration, published_iterations(plan, view))


def published_iterations(plan: BuildPlan, view: DistView) -> list[str]:
    """The iterations of the plan's version that are published (their releases without the dist tag)."""
    dist = "." + plan.target.dist
    return [
        evr.key[2].removesuffix(dist) for evr, _ in view.releases(plan.name) if evr.key[1] == plan.version
    ]


def iteration_line(plan: BuildPlan, what: str, free: str) -> str:
    """Where the recipe's iteration is set (its file and line, or where to add one) and the
    lowest free iteration it may be raised to."""
    path = plan.loaded.file
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if line.split("=", 1)[0].strip() == "iteration":
            return f'{what} {line.split("#", 1)[0].strip()} in {path}:{number} to "{free}" or higher'
    return f'{what} the iteration: add iteration = "{free}" or higher to [package] in {path}'
