"""What an SBOM says of an RPM pkgrun did not build (`pkgrun publish` of a file), from the RPM
alone: its source, build-time packages and recipe pkgrun cannot know. The digest algorithm its
file list uses is read here for every package."""

from __future__ import annotations

from pathlib import Path

from pkgrun.numerals import number
from pkgrun.rpm.header import content_digest
from pkgrun.rpm.query import RpmInfo, read_rpm
from pkgrun.trust.sbom import PackageFile, SbomFacts

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
