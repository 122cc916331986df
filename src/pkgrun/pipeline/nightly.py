"""The nightly job: every recipe for every configured target, only what changed rebuilt, in
parallel where recipes do not depend on each other, only what passed published.

It is the pipeline (pipeline.run_builds) with one request per (target, recipe), each built only
when its inputs differ from those of the package the repository publishes; this module says
which requests, and what the job would do with one of them (for `pkgrun plan --nightly`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pkgrun.build import cache as buildcache
from pkgrun.build.plan import BuildPlan
from pkgrun.config.settings import Settings
from pkgrun.pipeline.outcome import Mode, Request
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.repo.data import listed_in_dist, newest_release
from pkgrun.rpm.header import content_digest
from pkgrun.targets import Target


def nightly_requests(
    recipes: Sequence[LoadedRecipe], targets: Sequence[Target], settings: Settings
) -> list[Request]:
    """Every (target, recipe), in the version [nightly.versions.TARGET] names, else the recipe's
    default for the target."""
    requests = []
    for target in targets:
        versions = settings.config.nightly.versions.get(target.name, {})
        for item in recipes:
            requests.append(Request(item, target, Mode.IF_CHANGED, version=versions.get(item.name)))
    return requests


def explain(plan: BuildPlan, repo: Path) -> buildcache.Decision:
    """What the nightly job would do with ``plan`` now, and why."""
    identities = buildcache.Identities()
    deps = {name: newest_release(repo, plan.target.dist, name) for name in plan.loaded.recipe.build.recipes}
    inputs = buildcache.inputs_of(
        plan,
        image=identities.image(plan.target),
        packager=identities.packager(plan.packager),
        recipes={name: content_digest(rpm) for name, rpm in deps.items() if rpm},
    )
    dist_dir = repo / plan.target.dist
    return buildcache.decide(plan, inputs, dist_dir, listed_in_dist(dist_dir))


def explain_compile(plan: BuildPlan, settings: Settings) -> str:
    """Whether a build of ``plan`` would reuse a kept compile, and why (for `pkgrun plan
    --nightly`): the compile's inputs as far as they are known without building anything."""
    from pkgrun.build.compiles import CompileCache, compile_inputs
    from pkgrun.build.sources import sha256_file, source_date_epoch
    from pkgrun.engine.images import image_identity

    if not plan.options.compile_cache:
        return "no compile cache"
    if plan.options.recompile:
        return "from source (--recompile)"
    image = image_identity(plan.target, plan.target.containerfile, plan.build_requires)
    source = settings.cache_dir / "sources" / plan.source.filename
    epoch = plan.loaded.recipe.source.date_epoch
    if epoch is None:
        if not source.is_file() or sha256_file(source) != plan.source.sha256:
            return f"cannot tell: {plan.source.filename} is not fetched yet (pkgrun fetch)"
        epoch = source_date_epoch(source, plan.source.sha256)
    deps = [
        newest_release(settings.repo, plan.target.dist, name) for name in plan.loaded.recipe.build.recipes
    ]
    inputs = compile_inputs(
        plan, image=image, source_date_epoch=epoch, packages=[content_digest(rpm) for rpm in deps if rpm]
    )
    cache = CompileCache(settings.cache_dir / "compiles", settings.compile_cache_max)
    kept = cache.find(inputs.digest(), touch=False)
    return f"reused ({kept.describe()})" if kept else "from source, " + cache.why_not(inputs)
