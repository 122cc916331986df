"""What an SBOM says of a package, gathered from its plan, the RPM as rpm reads it and what the
build found (the source file, the build image's packages): the bridge between a build and the
format (trust/sbom.py), which knows neither. A package pkgrun did not build is described from
the RPM alone (trust/file_facts.py)."""

from __future__ import annotations

from collections.abc import Sequence

from pkgrun.build.cache import recipe_files
from pkgrun.build.plan import BuildPlan
from pkgrun.rpm.query import RpmInfo
from pkgrun.trust.file_facts import file_digest_algorithm
from pkgrun.trust.sbom import PackageFile, SbomFacts


def sbom_facts(
    plan: BuildPlan,
    info: RpmInfo,
    rpm_sha256: str,
    build_packages: Sequence[tuple[str, str]],
    epoch_time: int,
) -> SbomFacts:
    """``rpm_sha256``: the package's content digest (rpmheader.content_digest)."""
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
        rpm_sha256=rpm_sha256,
        requires=info.requires,
        files=[PackageFile(f.path, f.digest, f.mode) for f in info.files],
        source_file=plan.source.filename,
        source_sha256=plan.source.sha256,
        source_url=plan.source.url,
        build_packages=build_packages,
        package_type=plan.target.package_type,
        recipe_files=recipe_files(plan.loaded.directory),
        epoch_time=epoch_time,
        file_digests=file_digest_algorithm(info),
    )
