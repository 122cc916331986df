"""A run's requests as jobs: each request's plan (the one way a run, and `pkgrun plan`, make
one) and the record that follows it through the run (Job), from its plan to its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pkgrun.build import cache as buildcache
from pkgrun.build.plan import BuildPlan, Options, make_plan
from pkgrun.config.settings import Settings
from pkgrun.pipeline.decide import Decision
from pkgrun.pipeline.outcome import Outcome, Request
from pkgrun.pipeline.scheduler import Node


def run_options(settings: Settings, concurrent: int) -> Options:
    """The steps a run's builds take, and make -j of each when ``concurrent`` builds share the cores."""
    _, make_jobs = settings.split(concurrent)
    return Options(
        lint=settings.lint,
        install_test=settings.install_test,
        publish=settings.publish,
        sign=not settings.unsigned,
        make_jobs=make_jobs,
        recompile=settings.recompile,
        ccache=settings.ccache,
        ccache_volume=settings.config.cache.ccache_volume,
    )


def plan_requests(requests: Sequence[Request], settings: Settings) -> dict[Node, BuildPlan]:
    """Every request's plan, made before any work: a bad version or packager stops the run here."""
    options = run_options(settings, len(requests))
    return {(r.target.name, r.loaded.name): plan_of(r, settings, options) for r in requests}


def plan_of(
    request: Request, settings: Settings, options: Options, iteration: str | None = None
) -> BuildPlan:
    """A request's plan with ``options`` (and another iteration than its own, when given): the
    one way a run, and `pkgrun plan`, make one."""
    return make_plan(
        request.loaded,
        request.target,
        out_dir=settings.out_dir,
        options=options,
        version=request.version,
        iteration=iteration or request.iteration,
        packager=settings.packager,
    )


@dataclass
class Job:
    """One request of a run, as it goes: planned up front (the recipe's release, the run's make
    -j), decided before any host is given to it, then built once its release and host are
    known (``final``: the plan that runs), on the hosts it was tried on, to its outcome."""

    request: Request
    plan: BuildPlan
    outcome: Outcome
    decision: Decision | None = None
    inputs: buildcache.Inputs | None = None
    deps: dict[str, Path | None] = field(default_factory=dict)  # its [build] recipes' packages
    final: BuildPlan | None = None
    attempts: list[str] = field(default_factory=list)  # the hosts it ran on
    package: Path | None = None  # its package in this run: built, or the published one it stands on

    @property
    def named(self) -> bool:
        """Whether the user named its iteration (--iteration)."""
        return self.request.iteration is not None
