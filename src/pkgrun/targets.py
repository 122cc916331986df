"""Build targets as data: which image builds the package, which dist tag it gets, which
package family names its dependencies and how its repository metadata is compressed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pkgrun.errors import UsageError


class PackageFamily(StrEnum):
    """Whose package names a target's requirements use."""

    YUM = "yum"  # CentOS / RHEL / Rocky: yum and dnf names
    APT = "apt"  # Debian: apt names (the offline `local` target)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    base_image: str
    dist: str  # appended to the recipe's iteration: 3 -> 3.el7
    family: PackageFamily
    # createrepo_c --general-compress-type: what the target's yum/dnf can read
    metadata_compression: str
    # How build requirements are installed into the build image: run by sh as
    # `sh -c INSTALL sh REQUIREMENT...`, so requirement names are arguments, never shell text.
    install: str
    # The Containerfile (in pkgrun/containerfiles) that adds the toolchain and fpm to the base
    # image; None when the base image is used as it is (`local`, which packages with nfpm).
    containerfile: str | None
    # How an RPM file is installed or upgraded in an install test (argv, the file appended): with
    # the target's own package manager on el targets, so that dependencies are resolved; with
    # rpm on `local`, whose runtime libraries are Debian packages that rpm's database lacks.
    install_rpm: tuple[str, ...]
    # The Containerfile of the image install tests and runtime images start from; None: the
    # base image as it is.
    runtime_containerfile: str | None
    # fpm --rpm-compression: what the target's rpm can unpack (CentOS 7 reads no zstd)
    payload_compression: str = "gzip"

    @property
    def has_fpm(self) -> bool:
        return self.containerfile is not None


# Image names are short names on purpose: podman resolves them through its short-name aliases
# and docker through its default registry, and a site with its own mirror retags them.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="el7",
            description="CentOS 7 (end of life; repositories from the vault)",
            base_image="centos:7",
            dist="el7",
            family=PackageFamily.YUM,
            metadata_compression="gz",  # yum 3 on CentOS 7 reads neither xz nor zstd metadata reliably
            # yum 3 skips unknown names with exit status 0 unless told otherwise
            install='yum install -y --setopt=skip_missing_names_on_install=False "$@" && yum clean all',
            containerfile="el7.Containerfile",
            install_rpm=("yum", "install", "-y", "--setopt=skip_missing_names_on_install=False"),
            runtime_containerfile="el7-runtime.Containerfile",
        ),
        Target(
            name="el8",
            description="Rocky Linux 8",
            base_image="rockylinux:8",
            dist="el8",
            family=PackageFamily.YUM,
            metadata_compression="xz",
            install='dnf install -y "$@" && dnf clean all',
            containerfile="el8.Containerfile",
            install_rpm=("dnf", "install", "-y"),
            runtime_containerfile="el8-runtime.Containerfile",
        ),
        Target(
            name="el9",
            description="Rocky Linux 9",
            base_image="rockylinux:9",
            dist="el9",
            family=PackageFamily.YUM,
            metadata_compression="zstd",
            install='dnf install -y "$@" && dnf clean all',
            containerfile="el9.Containerfile",
            install_rpm=("dnf", "install", "-y"),
            runtime_containerfile="el9-runtime.Containerfile",
        ),
        Target(
            name="local",
            description="offline test target: a Debian 12 rootfs made by debootstrap, no registry needed",
            base_image="localhost/pkgrun-local:bookworm",
            dist="local",
            family=PackageFamily.APT,
            metadata_compression="gz",
            install="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            '--no-install-recommends "$@" && rm -rf /var/lib/apt/lists/*',
            containerfile=None,
            install_rpm=("rpm", "-U", "--nodeps"),
            runtime_containerfile=None,
        ),
    )
}

DEFAULT_TARGET = "el7"


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UsageError(
            f"unknown target {name!r}",
            hint=f"choose one of: {', '.join(TARGETS)}",
        ) from None
