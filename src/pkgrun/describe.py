"""What an SBOM says of a built package, gathered from its plan, the RPM as rpm reads it and what
the build found (the source file, the build image's packages): the bridge between a build and
the format (sbom.py), which knows neither."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pkgrun.buildcache import recipe_files
from pkgrun.plan import BuildPlan
from pkgrun.sbom import PackageFile, SbomFacts
from pkgrun.sources import sha256_file
from pkgrun.verify import RpmInfo


def sbom_facts(
    plan: BuildPlan,
    info: RpmInfo,
    rpm: Path,
    source: Path,
    build_packages: Sequence[tuple[str, str]],
    epoch_time: int,
) -> SbomFacts:
    pkg = plan.loaded.recipe.package
    return SbomFacts(
        name=pkg.name,
        epoch=pkg.epoch,
        version=plan.version,
        release=plan.release,
        arch=pkg.arch,
        dist=plan.target.dist,
        license=pkg.license,
        url=pkg.url,
        supplier=pkg.vendor or pkg.maintainer,
        summary=pkg.summary,
        rpm_sha256=sha256_file(rpm),
        requires=info.requires,
        files=[PackageFile(f.path, f.digest, f.mode) for f in info.files],
        source_file=plan.source.filename,
        source_sha256=plan.source.sha256,
        source_url=plan.source.url,
        build_packages=build_packages,
        package_type=plan.target.package_type,
        recipe_files=recipe_files(plan.loaded.directory),
        epoch_time=epoch_time,
    )
