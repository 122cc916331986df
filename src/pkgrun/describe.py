"""What an SBOM says of a package, gathered from its plan, the RPM as rpm reads it and what the
build found (the source file, the build image's packages): the bridge between a build and the
format (sbom.py), which knows neither. A package pkgrun did not build (`pkgrun publish` of a
file) is described from the RPM alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pkgrun.buildcache import recipe_files
from pkgrun.numerals import number
from pkgrun.plan import BuildPlan
from pkgrun.rpmheader import content_digest
from pkgrun.sbom import PackageFile, SbomFacts
from pkgrun.verify import RpmInfo, read_rpm


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


# rpm's numbers for its file digest algorithms (FILEDIGESTALGO), as CycloneDX names them
_DIGESTS = {"1": "MD5", "2": "SHA-1", "8": "SHA-256", "9": "SHA-384", "10": "SHA-512"}


def file_digest_algorithm(info: RpmInfo) -> str:
    """How the package's file digests are made: rpm older than 4.6 wrote none and used md5."""
    return _DIGESTS.get(info.header.get("FILEDIGESTALGO", "(none)"), "MD5")


def file_facts(rpm: Path, dist: str) -> SbomFacts:
    """What the RPM itself says: a package published from a file, whose source, build-time
    packages and recipe pkgrun cannot know."""
    info = read_rpm(rpm)

    def value(tag: str) -> str:
        text = info.header[tag]
        return "" if text == "(none)" else text

    epoch = value("EPOCH")
    return SbomFacts(
        name=value("NAME"),
        epoch=number(epoch) or 0,
        version=value("VERSION"),
        release=value("RELEASE"),
        arch=value("ARCH"),
        dist=dist,
        license=value("LICENSE"),
        url=value("URL"),
        supplier=value("VENDOR"),
        summary=value("SUMMARY"),
        rpm_sha256=content_digest(rpm),
        requires=info.requires,
        files=[PackageFile(f.path, f.digest, f.mode) for f in info.files],
        file_digests=file_digest_algorithm(info),
        built_by_pkgrun=False,
    )
