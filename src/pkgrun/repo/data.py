"""Reading a repository as its consumers do: the packages its metadata lists (with
createrepo_c's bindings, the library that wrote it), the releases of a package, and the build
index beside it."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import createrepo_c as cr  # type: ignore[import-untyped]

from pkgrun.numerals import number
from pkgrun.rpm.evr import EVR
from pkgrun.targets import target_of_dist
from pkgrun.trust.sbom import SUFFIX as SBOM_SUFFIX

# What the builds of the published packages were made of: an index kept beside the repository
# for the build cache (buildcache.py), opaque here: entries by key, each a JSON object.
INDEX_FILE = "pkgrun-builds.json"


def listed_in_dist(dist_dir: Path) -> set[str]:
    """The package files the metadata of every architecture of a distribution lists."""
    listed: set[str] = set()
    for repodata in dist_dir.glob("*/repodata"):
        listed |= listed_files(repodata.parent)
    return listed


def listed_files(arch_dir: Path) -> set[str]:
    """The package files the repository's current metadata lists."""
    return {str(pkg.location_href) for pkg in packages_in(arch_dir)}


def packages_in(arch_dir: Path) -> list[Any]:
    """The packages in ``arch_dir``'s metadata, read with createrepo_c's bindings: the metadata
    is read by the library that wrote it. Read once for each version of repomd.xml (publishing
    replaces it whole), so that a run over hundreds of recipes does not read it hundreds of times."""
    repomd = arch_dir / "repodata" / "repomd.xml"
    try:
        st = repomd.stat()
    except OSError:
        return []
    version = (str(arch_dir.resolve()), st.st_ino, st.st_mtime_ns, st.st_size)
    with _READ_LOCK:
        if version in _READ:
            return list(_READ[version])
    metadata = cr.Metadata()
    metadata.locate_and_load_xml(str(arch_dir))
    packages = [metadata.get(key) for key in metadata.keys()]  # noqa: SIM118  (a binding, not a dict)
    with _READ_LOCK:
        if len(_READ) > 64:
            _READ.clear()
        _READ[version] = packages
    return list(packages)


_READ: dict[tuple[str, int, int, int], list[Any]] = {}
_READ_LOCK = threading.Lock()


def read_index(dist_dir: Path) -> dict[str, Any]:
    """The build index beside the distribution's repository; empty when missing or unreadable."""
    try:
        data = json.loads((dist_dir / INDEX_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class PublishedPackage:
    dist: str
    nevra: str
    size: int
    built: datetime  # the RPM's build time: SOURCE_DATE_EPOCH (the source's date) for a reproducible build
    path: Path
    published: datetime | None = None  # when its file was placed in the repository

    def to_json(self) -> dict[str, object]:
        return {
            "dist": self.dist,
            "nevra": self.nevra,
            "size": self.size,
            "built": self.built.isoformat(timespec="seconds"),
            "published": self.published.isoformat(timespec="seconds") if self.published else None,
            "path": str(self.path),
            "sbom": str(sbom) if (sbom := self.sbom) else None,
        }

    @property
    def sbom(self) -> Path | None:
        """The package's SBOM beside it, when there is one."""
        path = self.path.with_name(self.path.name.removesuffix(".rpm") + SBOM_SUFFIX)
        return path if path.is_file() else None


def published_releases(repo_root: Path, dist: str, name: str) -> list[tuple[EVR, Path]]:
    """The releases of package ``name`` that the distribution's metadata lists."""
    return read_dist(repo_root, dist).releases(name)


def newest_releases(repo_root: Path, dist: str) -> dict[str, str]:
    """The newest published release of each package name, as "version-release"."""
    return read_dist(repo_root, dist).newest_releases()


def newest_release(repo_root: Path, dist: str, name: str, older_than: EVR | None = None) -> Path | None:
    """The newest published release of ``name`` (older than ``older_than``, when given)."""
    return read_dist(repo_root, dist).newest(name, older_than)


def read_dist(repo_root: Path, dist: str) -> DistView:
    """What the distribution's repository publishes now, read once: its metadata (every
    architecture's) and the build index beside it."""
    dist_dir = repo_root / dist
    return DistView(dist_dir, tuple(_listed(repo_root, dist)), listed_in_dist(dist_dir), read_index(dist_dir))


@dataclass(frozen=True)
class DistView:
    """One distribution's repository as it was read: every question of a run is asked of it
    (which releases of a name, the newest, what provides a capability, the build index), so
    that one run sees one repository, however many recipes ask."""

    dist_dir: Path
    packages: tuple[tuple[Any, EVR, Path], ...]  # listed once: see _listed
    listed: frozenset[str] | set[str]  # every file name the metadata lists (each architecture's)
    index: Mapping[str, Any]  # the build index (buildcache.py's entries by key)

    def releases(self, name: str) -> list[tuple[EVR, Path]]:
        """The releases of package ``name``."""
        return [(evr, path) for pkg, evr, path in self.packages if pkg.name == name]

    def newest(self, name: str, older_than: EVR | None = None) -> Path | None:
        """The newest release of ``name`` (older than ``older_than``, when given)."""
        releases = [
            (evr, path) for evr, path in self.releases(name) if older_than is None or evr < older_than
        ]
        return max(releases, key=lambda item: item[0])[1] if releases else None

    def newest_releases(self) -> dict[str, str]:
        """The newest release of each package name, as "version-release"."""
        newest: dict[str, EVR] = {}
        for pkg, evr, _ in self.packages:
            if str(pkg.name) not in newest or newest[str(pkg.name)] < evr:
                newest[str(pkg.name)] = evr
        return {name: f"{evr.key[1]}-{evr.key[2]}" for name, evr in newest.items()}

    def seconds(self, key: str) -> float | None:
        """How long the build recorded under ``key`` took, when the index says."""
        seconds = self.index.get(key, {}).get("seconds")
        return float(seconds) if isinstance(seconds, int | float) else None

    def providers(self, requires: Collection[str], skip: Collection[str] = ()) -> list[Path]:
        """The newest release of each package that provides one of ``requires`` (the names, as
        rpm writes them: "libfoo.so.1()(64bit)", "libfoo >= 1"), and of what those require in
        turn: what a server's dnf would take from the repository to satisfy them. Packages
        named in ``skip`` (the ones offered already) are not followed."""
        # the newest release of each name and architecture: what a client of any of them would take
        newest: dict[tuple[str, str], tuple[EVR, Any, Path]] = {}
        for pkg, evr, path in self.packages:
            which = (str(pkg.name), str(pkg.arch))
            if which not in newest or newest[which][0] < evr:
                newest[which] = (evr, pkg, path)
        wanted = {r.split(" ", 1)[0] for r in requires}
        taken: dict[tuple[str, str], Path] = {}
        while True:
            found = [
                (which, pkg)
                for which, (_, pkg, _) in newest.items()
                if which not in taken and which[0] not in skip and wanted & {str(p[0]) for p in pkg.provides}
            ]
            if not found:
                return sorted(taken.values())
            for which, pkg in found:
                taken[which] = newest[which][2]
                wanted |= {str(r[0]) for r in pkg.requires}

    def provided(self, names: Collection[str]) -> set[str]:
        """Which of ``names`` (package names, name.arch, capabilities or file paths, without
        versions) a package the repository publishes provides: what a server finds there by that
        name. File paths are those the primary metadata lists (/usr/bin, /etc, ...: what yum
        resolves a path requirement with)."""
        wanted = set(names)
        found: set[str] = set()
        for pkg, _, _ in self.packages:
            name = str(pkg.name)
            found |= wanted & {name, f"{name}.{pkg.arch}", *(str(p[0]) for p in pkg.provides)}
            if any(w.startswith("/") for w in wanted - found):
                found |= wanted & {f"{f[1]}{f[2]}" for f in pkg.files}
        return found


class Snapshot:
    """What is published, one read per distribution per run (DistView), shared by the run's
    threads; pkgrun's own publishes in the run refresh their distribution's view, nothing else."""

    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self._views: dict[str, DistView] = {}
        self._lock = threading.Lock()
        self._reads = 0  # refreshes begun, in order
        self._kept: dict[str, int] = {}  # the refresh each kept view came from

    def view(self, dist: str) -> DistView:
        with self._lock:
            if dist not in self._views:
                self._views[dist] = read_dist(self.repo_root, dist)
            return self._views[dist]

    def refresh(self, dist: str) -> DistView:
        """Read ``dist`` again: after pkgrun published into it. Of two threads refreshing after
        their publishes, the view of the read begun later is kept, whichever ends first: it
        holds both packages."""
        with self._lock:
            self._reads += 1
            begun = self._reads
        view = read_dist(self.repo_root, dist)
        with self._lock:
            if begun > self._kept.get(dist, 0):
                self._views[dist], self._kept[dist] = view, begun
            return self._views[dist]


def _listed(repo_root: Path, dist: str) -> Iterator[tuple[Any, EVR, Path]]:
    """Every package the distribution's metadata lists, with its EVR and its file, once (a
    noarch package is in every architecture's repository: its copy in the first of them): one
    whose epoch rpm never writes, or whose file is not a regular file of its architecture's
    directory (a listed "../x", a planted link), is skipped; a package is copied and read
    from here, never a file elsewhere."""
    seen: set[tuple[str, EVR, str]] = set()
    for arch_dir in arch_dirs(repo_root / dist):
        for pkg in packages_in(arch_dir):
            epoch = number(str(pkg.epoch or 0))  # rpm writes a number; skip what it never would
            path = _package_file(arch_dir, str(pkg.location_href))
            evr = EVR(epoch or 0, str(pkg.version), str(pkg.release))
            which = (str(pkg.name), evr, str(pkg.arch))
            if epoch is not None and path is not None and which not in seen:
                seen.add(which)
                yield pkg, evr, path


def arch_dirs(dist_dir: Path) -> list[Path]:
    """The architectures' directories that hold metadata: the distribution's own in its order
    (Target.arches), then any other."""
    found = {repomd.parent.parent for repomd in dist_dir.glob("*/repodata/repomd.xml")}
    target = target_of_dist(dist_dir.name)
    order = {arch: i for i, arch in enumerate(target.arches if target else ())}
    return sorted(found, key=lambda d: (order.get(d.name, len(order)), d.name))


def _package_file(arch_dir: Path, href: str) -> Path | None:
    parts = PurePosixPath(href).parts
    if not parts or href.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return None
    path = arch_dir.joinpath(*parts)
    try:
        return path if stat.S_ISREG(path.lstat().st_mode) else None
    except OSError:
        return None


def list_published(repo_root: Path) -> list[PublishedPackage]:
    """What the repository's metadata lists, as consumers see it (read with createrepo_c)."""
    rows: dict[tuple[str, str], PublishedPackage] = {}
    for dist_dir in sorted(
        {repomd.parent.parent.parent for repomd in repo_root.glob("*/*/repodata/repomd.xml")}
    ):
        for arch_dir in arch_dirs(dist_dir):
            for pkg in packages_in(arch_dir):
                nevra = f"{pkg.name}-{pkg.epoch or 0}:{pkg.version}-{pkg.release}.{pkg.arch}"
                # a noarch package is in every architecture's repository: one row, its first copy
                rows.setdefault(
                    (dist_dir.name, nevra),
                    PublishedPackage(
                        dist=dist_dir.name,
                        nevra=nevra,
                        size=int(pkg.size_package),
                        built=datetime.fromtimestamp(int(pkg.time_build), tz=UTC),
                        path=arch_dir / pkg.location_href,
                        published=datetime.fromtimestamp(int(pkg.time_file), tz=UTC),
                    ),
                )
    return sorted(rows.values(), key=lambda r: (r.dist, r.nevra))
