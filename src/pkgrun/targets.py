"""Build targets as data: everything that makes one target differ from another is a field here,
so that no other module branches on a target's name or family.

A target says which image builds the package and how it is made, which dist tag the package
gets, whose package names its requirements use, which packager it uses, how the install test
gets the package's runtime requirements, and how its repository metadata is compressed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pkgrun.errors import UsageError


class PackageFamily(StrEnum):
    """Whose package names a target's requirements use."""

    YUM = "yum"  # CentOS / RHEL / Rocky: yum and dnf names
    APT = "apt"  # Debian: apt names (the offline `local` target)


class Packager(StrEnum):
    FPM = "fpm"  # fpm driving the target's own rpmbuild, inside the build image
    NFPM = "nfpm"  # nfpm, pkgrun's static binary, copied into the build container


class RuntimeDeps(StrEnum):
    """How an install test gets what a package requires at run time."""

    # yum/dnf installs the package and resolves its requirements from the distribution's
    # repositories (and the pkgrun repository); needs network
    PACKAGE_MANAGER = "package manager"
    # the requirements are the image's own packages (apt names), installed into the test image
    # beforehand; rpm installs the package, and its siblings of the same run, with --nodeps
    PREINSTALLED = "preinstalled"


@dataclass(frozen=True)
class DebuginfoTool:
    """rpm's find-debuginfo as the target's build image has it: debugedit's (5.0 and later:
    el9, el10, Debian) or rpm-build's script (el8's rpm 4.14, el7's 4.11). ``seeds``: it takes
    --build-id-seed and -S (a list of the sources it copied); ``links``: it makes the .build-id
    links itself (rpm 4.11's script did; from 4.14 on rpmbuild makes them, so pkgrun does)."""

    path: str = "/usr/bin/find-debuginfo"
    seeds: bool = True
    links: bool = False


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
    # image; None when the base image is a debootstrap root file system used as it is.
    containerfile: str | None
    # The packager used unless --packager says otherwise: fpm where the build image carries it.
    packager: Packager
    # How an RPM file is installed (argv, the files appended): `pkgrun image` on el targets.
    install_rpm: tuple[str, ...]
    runtime_deps: RuntimeDeps
    # The Containerfile of the image install tests and runtime images start from; None: the
    # base image as it is.
    runtime_containerfile: str | None
    # How the names a recipe requires are looked up in the target's repositories, from its
    # runtime image with the network: run as `sh -c LOOKUP sh NAME...`, it prints each name that
    # nothing provides, one a line, and exits non-zero when it cannot read the repositories.
    # A name is a package spec (name, name.arch, name-version) or what a package provides; a
    # query that fails (an unreadable repository) is exit status 3, never a name reported missing.
    lookup: str = (
        "dnf -q makecache >/dev/null || exit 3; for n; do "
        'a=$(dnf -q -C repoquery -- "$n") && b=$(dnf -q -C repoquery --whatprovides "$n") || exit 3; '
        '[ -n "$a$b" ] || printf "%s\\n" "$n"; done'
    )
    # How a user looks a name up on such a system, for the hint
    search: str = "dnf repoquery --whatprovides NAME"
    # Whether the build image lacks rpm, which installs the packages of [build] recipes.
    build_image_needs_rpm: bool = False
    # The build image's packages, one "name<TAB>exact version" a line, for the SBOM
    package_query: tuple[str, ...] = (
        "rpm", "-qa", "--qf", "%{NAME}\\t%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\\n",
    )  # fmt: skip
    package_type: str = "rpm"  # their purl type
    # fpm --rpm-compression: what the target's rpm can unpack (CentOS 7 reads no zstd)
    payload_compression: str = "gzip"
    # What pkgrun's .repo files say, beyond the address and the checks, so that a client that
    # also enables the distribution's repositories and EPEL installs pkgrun's packages by name
    # (see PRIORITY below).
    repo_settings: tuple[str, ...] = ()
    # The package manager a server installs by name with, as argv before its command (install,
    # upgrade, repoquery): the install test's (byname.py). Its runtime image has it. dnf is told
    # best=True: with best=False (Debian's dnf.conf) an upgrade whose dependencies do not
    # resolve is skipped with exit status 0.
    by_name: tuple[str, ...] = ("dnf", "--setopt=best=True")
    # A site's values for the Containerfiles' ARGs (its own mirrors: Settings.target), written
    # into their defaults, so part of the images' identity
    build_args: tuple[tuple[str, str], ...] = ()
    # A site's registry (host[:port][/path], PKGRUN_REGISTRY: Settings.target) that the el
    # images' FROM names are qualified with, so that podman and docker pull the very same image
    # (a short name resolves through each engine's own configuration); "" for short names.
    registry: str = ""
    # Whether the target's rpm verifies a signature against primary keys only (rpm 4.11 on
    # CentOS 7 ignores subkeys): packages for it are signed with the primary key itself
    primary_key_only: bool = False
    # The architectures the distribution ships: the $basearch of its servers, the first the one
    # a package is for unless its recipe says otherwise. Every one of them has a repository
    # (metadata, empty if need be), and a noarch package goes into each, as Fedora and EPEL
    # publish noarch: the .repo file's $basearch finds it on a server of any of them.
    arches: tuple[str, ...] = ("x86_64", "aarch64", "ppc64le", "s390x")
    # what strips the package's ELF files into its -debuginfo
    debuginfo: DebuginfoTool = DebuginfoTool()

    @property
    def from_image(self) -> str:
        """The image its Containerfiles start from, as the engine is told it."""
        return qualified(self.base_image, self.registry) if self.containerfile else self.base_image

    @property
    def install_test_network(self) -> str:
        """The install test's network: the package manager fetches requirements; rpm needs none."""
        return "host" if self.runtime_deps is RuntimeDeps.PACKAGE_MANAGER else "none"

    @property
    def packagers(self) -> tuple[Packager, ...]:
        """The packagers this target's build image can run."""
        return (Packager.FPM, Packager.NFPM) if self.packager is Packager.FPM else (Packager.NFPM,)


# A pkgrun repository wins on a server, the documented way:
# - priority: yum/dnf take a package from the repository of the lowest priority value that has
#   its name, whatever the version or epoch elsewhere (dnf.conf(5); el7's yum needs the
#   yum-plugin-priorities package for it). Repositories default to 99: EPEL's nginx-1:1.20.1
#   and AppStream's nginx-1:1.20.1 lose to pkgrun's nginx-0:1.22.1.
# - module_hotfixes: dnf's modular filtering hides every non-modular package whose name a
#   default stream ships (el8's nginx:1.14, php:7.2); a hotfix repository is exempt
#   (dnf.modularity(7), "HOTFIX REPOSITORIES"; mock marks its local repositories so).
PRIORITY = 10
YUM_REPO_SETTINGS = (f"priority={PRIORITY}",)
DNF_REPO_SETTINGS = (f"priority={PRIORITY}", "module_hotfixes=1")


def _dnf_el(release: int, description: str, base_image: str, metadata_compression: str) -> Target:
    """An el target of dnf's: el8 and later, alike but for the image, the metadata and where
    find-debuginfo is (el8's rpm-build has the script; from el9 on, the debugedit package)."""
    return Target(
        debuginfo=DebuginfoTool("/usr/lib/rpm/find-debuginfo.sh") if release == 8 else DebuginfoTool(),
        name=f"el{release}",
        description=description,
        base_image=base_image,
        dist=f"el{release}",
        family=PackageFamily.YUM,
        metadata_compression=metadata_compression,
        install='dnf install -y "$@" && dnf clean all',
        containerfile=f"el{release}.Containerfile",
        packager=Packager.FPM,
        install_rpm=("dnf", "install", "-y"),
        runtime_deps=RuntimeDeps.PACKAGE_MANAGER,
        runtime_containerfile=f"el{release}-runtime.Containerfile",
        repo_settings=DNF_REPO_SETTINGS,
    )


# The names the installed Debian packages provide (their Provides, versions dropped), one a
# line, in $provided: a virtual name one of them provides (awk: mawk) is there already, and apt
# would install nothing by that name (it has "no installation candidate").
_APT_PROVIDED = (
    "provided=$(dpkg-query -W -f '${db:Status-Abbrev}${Provides}\\n' | sed -n 's/^ii *//p' "
    "| tr ',' '\\n' | sed 's/^ *//; s/ .*//')"
)
# The requirements installed, but for the names an installed package provides.
_APT_INSTALL = f"""{_APT_PROVIDED}
for n; do shift; printf '%s\\n' "$provided" | grep -qxF -- "$n" || set -- "$@" "$n"; done
[ $# -eq 0 ] || {{ apt-get update && DEBIAN_FRONTEND=noninteractive \\
    apt-get install -y --no-install-recommends "$@" && rm -rf /var/lib/apt/lists/*; }}"""
# A name is known when apt would install it (a package, or a virtual one a package provides) or
# an installed package provides it; else it is printed, after apt's own words for a name it
# cannot install, with the packages that provide it when it is a virtual name (after a tab).
# A known name whose dependencies fail is left to the install, which says so.
_APT_LOOKUP = f"""export LC_ALL=C
apt-get update -qq --error-on=any >/dev/null || exit 3
{_APT_PROVIDED}
for n; do
    out=$(apt-get install -s -qq --no-install-recommends "$n" 2>&1) && continue
    case $out in
        *"Unable to locate package"*|*"has no installation candidate"*|*"Couldn't find any package"*) ;;
        *) continue;;
    esac
    printf '%s\\n' "$provided" | grep -qxF -- "$n" && continue
    by=$(apt-cache showpkg -- "$n" | sed -n '/^Reverse Provides:/,$p' | sed '1d; s/ .*//' | sort -u \\
        | tr '\\n' ' ')
    printf '%s\\t%s\\n' "$n" "$by"
done"""

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
            packager=Packager.FPM,
            install_rpm=("yum", "install", "-y", "--setopt=skip_missing_names_on_install=False"),
            runtime_deps=RuntimeDeps.PACKAGE_MANAGER,
            runtime_containerfile="el7-runtime.Containerfile",
            by_name=("yum", "--setopt=skip_missing_names_on_install=False"),
            # repoquery is yum-utils', which the runtime image has
            lookup="command -v repoquery >/dev/null && yum -q makecache fast >/dev/null || exit 3; for n; do "
            'a=$(repoquery -q -C -- "$n") && b=$(repoquery -q -C --whatprovides "$n") || exit 3; '
            '[ -n "$a$b" ] || printf "%s\\n" "$n"; done',
            search="yum provides NAME",
            primary_key_only=True,
            repo_settings=YUM_REPO_SETTINGS,
            arches=("x86_64", "aarch64", "ppc64le"),  # CentOS 7's, altarch's included
            debuginfo=DebuginfoTool("/usr/lib/rpm/find-debuginfo.sh", seeds=False, links=True),
        ),
        _dnf_el(8, "Rocky Linux 8", "rockylinux:8", "xz"),
        _dnf_el(9, "Rocky Linux 9", "rockylinux:9", "zstd"),
        # RHEL 10 has no modules left; module_hotfixes is harmless to its dnf and keeps one rule
        _dnf_el(10, "AlmaLinux 10 (a RHEL 10 rebuild)", "almalinux:10", "zstd"),
        Target(
            name="local",
            description="offline test target: a Debian 12 rootfs made by debootstrap, no registry needed",
            base_image="localhost/pkgrun-local:bookworm",
            dist="local",
            family=PackageFamily.APT,
            metadata_compression="gz",
            install=_APT_INSTALL,
            containerfile=None,
            packager=Packager.NFPM,  # no Ruby gems can be fetched where this target is used
            # every requirement checked: the image's own packages are provided to rpm (install_test)
            install_rpm=("rpm", "-U"),
            runtime_deps=RuntimeDeps.PREINSTALLED,
            runtime_containerfile=None,
            # Debian's dnf, which finds no release package to read $releasever from (pkgrun's
            # .repo files do not use it): the debootstrap suite's, bookworm's
            by_name=("dnf", "--setopt=best=True", "--releasever=12"),
            build_image_needs_rpm=True,
            lookup=_APT_LOOKUP,
            search="apt-cache policy NAME",
            package_query=("dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"),
            package_type="deb",
            repo_settings=DNF_REPO_SETTINGS,
        ),
    )
}

DEFAULT_TARGET = "el7"

# What apt installs by name (Debian policy's package names): a requirement of another form on a
# preinstalled target (a path, a soname capability) is a file or library the image has or lacks
_APT_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def apt_installable(requirement: str) -> bool:
    """Whether a requirement's first word is a name apt installs (pure)."""
    words = requirement.split()
    return bool(words) and _APT_NAME.fullmatch(words[0]) is not None


def qualified(image: str, registry: str) -> str:
    """``image`` under ``registry`` unless it names a registry of its own (a first part with a
    '.' or ':', or localhost)."""
    first = image.split("/", 1)[0]
    has_registry = "/" in image and ("." in first or ":" in first or first == "localhost")
    return image if not registry or has_registry else f"{registry}/{image}"


def target_of_dist(dist: str) -> Target | None:
    """The target whose packages a repository's distribution directory holds."""
    return next((t for t in TARGETS.values() if t.dist == dist), None)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UsageError(
            f"unknown target {name!r}",
            hint=f"choose one of: {', '.join(TARGETS)}",
        ) from None
