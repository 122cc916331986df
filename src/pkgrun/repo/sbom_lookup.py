"""Finding the SBOM of a package: the one beside a published package in the repository, named by
NEVRA (with or without its epoch), file name or package name (the newest release), or the one
beside an RPM file pkgrun built."""

from __future__ import annotations

from pathlib import Path

from pkgrun.errors import UsageError
from pkgrun.repo.data import list_published, newest_release
from pkgrun.targets import Target
from pkgrun.trust.sbom import file_name


def find_rpm(package: str, repo: Path, target: Target) -> Path:
    """The RPM ``package`` names: a file, or a published package of the target's repository."""
    if package.endswith(".rpm") and Path(package).is_file():
        return Path(package)
    for row in list_published(repo):
        if row.dist != target.dist:
            continue
        name, epoch_version, release_arch = row.nevra.rsplit("-", 2)  # name-E:V-R.A
        without_epoch = f"{name}-{epoch_version.partition(':')[2]}-{release_arch}"
        if package in {row.nevra, without_epoch, row.path.name, row.path.name.removesuffix(".rpm")}:
            return row.path
    if newest := newest_release(repo, target.dist, package):
        return newest
    raise UsageError(
        f"no package {package!r} in {repo / target.dist}",
        hint="name a published package (see pkgrun repo list) by NEVRA, file or name, or an .rpm file; "
        "--target picks the repository",
    )


def find_sbom(package: str, repo: Path, target: Target) -> str:
    """The SBOM (CycloneDX JSON) of the package ``package`` names."""
    rpm = find_rpm(package, repo, target)
    sbom = rpm.with_name(file_name(rpm.name))
    if not sbom.is_file() or sbom.is_symlink():
        raise UsageError(
            f"no SBOM beside {rpm}",
            hint="pkgrun writes one beside every package it builds or publishes; publish the file "
            "with pkgrun (pkgrun publish FILE), which describes it",
        )
    return sbom.read_text()
