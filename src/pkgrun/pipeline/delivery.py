"""What a finished build becomes in the repository: the published package it equals apart from
release and signature (then nothing new is published), or the publish itself, with the record
of its inputs. (The release it was built with was decided before it started: decide.py.)"""

from __future__ import annotations

from pathlib import Path

from pkgrun.build import cache as buildcache
from pkgrun.build.plan import BuildPlan, Step
from pkgrun.config.settings import Settings
from pkgrun.install import competitors
from pkgrun.pipeline.build import Steps
from pkgrun.pipeline.result import BuildResult
from pkgrun.repo.data import DistView
from pkgrun.repo.publish import Published, publish_rpms
from pkgrun.report import Reporter
from pkgrun.rpm.header import read_header, release_free_digest
from pkgrun.trust.signing import SigningKey


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


def published_twin(result: BuildResult, view: DistView) -> Path | None:
    """The newest published release of the package's version, when the new package equals it
    apart from release and signature (a rebuild for a dependency's new release that changes
    nothing in it): then there is nothing new to publish."""
    plan = result.plan
    same_version = [
        (evr, path) for evr, path in view.releases(plan.name) if evr.key[1] == plan.version and path.is_file()
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
