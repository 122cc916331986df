"""Publishing RPMs into a yum repository that stays readable while it changes.

Layout: ``<repo>/<dist>/<basearch>/`` holds the RPMs and ``repodata/``; ``<repo>/<dist>/pkgrun.repo``
is the .repo file for it. noarch packages go into the repository of the machines they serve.

Every publish holds the distribution's lock (fcntl) and works so that a publish killed at any
moment leaves the previous repository whole:
1. new RPMs are written to a temporary name and renamed into place (the old metadata does not
   list them, so readers do not see them yet);
2. createrepo_c writes the new metadata aside, reusing the old for unchanged packages
   (``--update --update-md-path``);
3. the new data files, whose names carry their checksums, join ``repodata/`` beside the old;
4. ``repomd.xml`` is replaced by a rename: readers see the old repository or the new one;
5. what neither the new nor the previous ``repomd.xml`` references is removed (pruned RPMs,
   old data files), so a reader holding the previous ``repomd.xml`` can still finish.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from pkgrun.describe import file_facts
from pkgrun.errors import EXIT_BAD_INPUT, PkgrunError, UsageError
from pkgrun.evr import EVR
from pkgrun.repodata import INDEX_FILE, packages_in, read_index
from pkgrun.report import Reporter
from pkgrun.rpmheader import FILE_NAME, RpmHeader, UnsafeRpm, content_digest, read_header
from pkgrun.run import find_tool, run
from pkgrun.sbom import SUFFIX as SBOM_SUFFIX
from pkgrun.sbom import describes, make_sbom
from pkgrun.signing import KEY_FILE, SigningKey, public_key, sign_file, sign_rpms, signed_by
from pkgrun.targets import Target

NOARCH_REPO = "x86_64"
REPO_FILE = "pkgrun.repo"
SIGNATURE = "repomd.xml.asc"  # repomd.xml's detached, armored signature
_REPOMD_NS = {"repo": "http://linux.duke.edu/metadata/repo"}


class NevraClash(PkgrunError):
    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Published:
    nevra: str
    path: Path
    action: str  # "added", "replaced", "unchanged"


@dataclass(frozen=True)
class PublishResult:
    published: list[Published]
    pruned: list[Path]
    seconds: float
    signed: list[Path] = field(default_factory=list)  # packages already there, signed now


def repo_arch(arch: str) -> str:
    return NOARCH_REPO if arch == "noarch" else arch


def createrepo_argv(packages: Path, outputdir: Path, compression: str, pkglist: Path) -> list[str]:
    """New metadata for the RPMs of ``packages`` named in ``pkglist``, written under
    ``outputdir``, reusing the current metadata for packages that did not change."""
    argv = [
        "createrepo_c",
        "--quiet",
        "--update",
        "--no-database",  # yum and dnf build their own caches from the XML
        "--general-compress-type",
        compression,
        "--pkglist",
        str(pkglist),
        "--outputdir",
        str(outputdir),
    ]
    if (packages / "repodata" / "repomd.xml").is_file():
        argv += ["--update-md-path", str(packages)]
    return argv + [str(packages)]


def repo_file_text(dist: str, baseurl: str, signed: bool) -> str:
    """The .repo file of a distribution's repository: signed packages and metadata checked
    against the key published beside it, or, for an unsigned repository, nothing checked."""
    base = baseurl.rstrip("/")
    check = (
        f"gpgcheck=1\nrepo_gpgcheck=1\ngpgkey={base}/{dist}/{KEY_FILE}\n"
        if signed
        else "gpgcheck=0\nrepo_gpgcheck=0\n"
    )
    return (
        f"[pkgrun-{dist}]\n"
        f"name=pkgrun packages for {dist}\n"
        f"baseurl={base}/{dist}/$basearch/\n"
        "enabled=1\n"
        f"{check}"
        "metadata_expire=60\n"
    )


@contextlib.contextmanager
def repo_lock(dist_dir: Path, reporter: Reporter, who: str) -> Iterator[None]:
    """One publisher per distribution at a time; a waiting one says so."""
    dist_dir.mkdir(parents=True, exist_ok=True)
    with _open_nofollow(dist_dir / ".lock", os.O_RDWR | os.O_CREAT, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another publisher"
            reporter.note(who, f"waiting for the repository lock on {dist_dir} (held by {holder})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.truncate(0)
            fcntl.flock(fh, fcntl.LOCK_UN)


def destination(dist_dir: Path, header: RpmHeader) -> Path:
    """Where ``header``'s package goes: checked to resolve inside ``dist_dir``."""
    dest = dist_dir / repo_arch(header.arch) / header.filename
    inside = dist_dir.resolve()
    if not dest.resolve().is_relative_to(inside) or not dest.parent.resolve().is_relative_to(inside):
        raise UnsafeRpm(
            f"{header.nevra} would be written to {dest.resolve()}, outside {inside}",
            hint="nothing was written; is a directory of the repository a symlink?",
        )
    return dest


def publish_rpms(
    rpms: Sequence[Path],
    repo_root: Path,
    target: Target,
    *,
    reporter: Reporter,
    force: bool = False,
    keep: int | None = None,
    baseurl: str | None = None,
    index: Mapping[str, Mapping[str, Any]] | None = None,
    key: SigningKey | None = None,
) -> PublishResult:
    """Add ``rpms`` (and the SBOM beside each, when there is one) to the target's repository,
    keep the newest ``keep`` releases of each package, and update the metadata. ``index``:
    entries to record in the build index. ``key``: every package placed is signed with it (if it
    is not yet), and so is repomd.xml; without one, the repository is unsigned."""
    started = time.monotonic()
    find_tool("createrepo_c", hint="createrepo_c comes with pkgrun's Python package: reinstall pkgrun")
    dist_dir = repo_root / target.dist
    headers = [(rpm, read_header(rpm)) for rpm in rpms]  # before the lock: reading takes time
    for _, header in headers:
        destination(dist_dir, header)  # every header is safe before anything is written
    published: list[Published] = []
    pruned: list[Path] = []
    with repo_lock(dist_dir, reporter, "publish"):
        if key is None and _is_signed(dist_dir) and not force:
            raise UsageError(
                f"{dist_dir} is signed: its servers check signatures and would refuse unsigned packages",
                hint="nothing was written; publish signed packages (drop --unsigned), or pass --force to "
                "make the whole repository unsigned (gpgcheck=0)",
            )
        listed: dict[Path, dict[str, RpmHeader]] = {}  # arch dir -> file name -> header
        placements = []
        for rpm, header in headers:  # every clash is refused before anything changes
            dest = destination(dist_dir, header)
            arch_dir = dest.parent
            if arch_dir not in listed:
                arch_dir.mkdir(parents=True, exist_ok=True)
                _clean_stale(arch_dir)
                listed[arch_dir] = {
                    str(p.location_href): RpmHeader.from_package(p)
                    for p in packages_in(arch_dir)
                    if FILE_NAME.fullmatch(str(p.location_href))  # never a path from metadata
                }
            old = listed[arch_dir].get(dest.name)
            # the same package whatever its signature: the main header and the payload
            same = old is not None and content_digest(dest) == content_digest(rpm)
            if old is not None and not same and not force:
                raise NevraClash(
                    f"{header.nevra} is already published as a different file ({dest})",
                    hint="a published version never changes: raise the iteration (--iteration) and "
                    "build again, or pass --force to replace it",
                )
            placements.append((rpm, dest, header, old, same))
        for rpm, dest, header, old, same in placements:
            if same and (key is None or key.made(signed_by([dest])[dest])):
                published.append(Published(header.nevra, dest, "unchanged"))
                continue
            _copy_into_place(rpm, dest, key)
            _copy_sbom(rpm, dest, target.dist)
            published.append(Published(header.nevra, dest, "replaced" if old else "added"))
            listed[dest.parent][dest.name] = header
        for arch_dir, packages in sorted(listed.items()):
            new = {p.path.name for p in published if p.path.parent == arch_dir}
            # The repository's packages: what its metadata lists and what this publish adds.
            # Anything else is the leftover of a killed publish, which no publish takes over.
            doomed = _beyond_retention(packages, keep, new) if keep else set()
            kept = sorted(set(packages) - doomed)
            _update_metadata(arch_dir, dist_dir, target.metadata_compression, kept, key)
            _prune(arch_dir, set(packages) - doomed)
            pruned += [arch_dir / name for name in sorted(doomed)]
        # a repository unsigned until now, or signed with another key: the .repo file will ask
        # for this key's signature on everything, so everything gets it
        signed = []
        if key is not None and not _signed_with(dist_dir, key):
            signed = _sign_everything(dist_dir, target, key, metadata=False)
        _finish(dist_dir, target, baseurl or repo_root.resolve().as_uri(), key)
        if index:
            record_index(dist_dir, index)
    return PublishResult(published, pruned, time.monotonic() - started, signed)


def record_builds(
    repo_root: Path, target: Target, index: Mapping[str, Mapping[str, Any]], *, reporter: Reporter
) -> None:
    """Record build index entries without publishing (a rebuild identical to what is published),
    under the lock like a publish."""
    dist_dir = repo_root / target.dist
    with repo_lock(dist_dir, reporter, "record"):
        record_index(dist_dir, index)


def sign_repository(
    repo_root: Path, target: Target, key: SigningKey, *, reporter: Reporter, baseurl: str | None = None
) -> list[Path]:
    """Sign every package of the target's repository that is not signed with ``key`` yet, and
    its metadata, under the lock and atomically like a publish (idempotent). The files signed."""
    dist_dir = repo_root / target.dist
    if not any(dist_dir.glob("*/repodata/repomd.xml")):
        raise UsageError(
            f"no repository at {dist_dir}", hint="check --repo and --target (the default target is el7)"
        )
    with repo_lock(dist_dir, reporter, "sign"):
        signed = _sign_everything(dist_dir, target, key)
        _finish(dist_dir, target, baseurl or repo_root.resolve().as_uri(), key)
    return signed


def _sign_everything(dist_dir: Path, target: Target, key: SigningKey, metadata: bool = True) -> list[Path]:
    """Sign every package the metadata lists that is not signed with ``key``, and the metadata
    (``metadata`` False: only where a package was signed or the metadata is unsigned); under the
    lock. The packages signed."""
    signed: list[Path] = []
    for repomd in sorted(dist_dir.glob("*/repodata/repomd.xml")):
        arch_dir = repomd.parent.parent
        _clean_stale(arch_dir)
        names = sorted(
            str(p.location_href) for p in packages_in(arch_dir) if FILE_NAME.fullmatch(str(p.location_href))
        )
        before = len(signed)
        for path, signer in signed_by([arch_dir / name for name in names]).items():
            if not key.made(signer):
                _copy_into_place(path, path, key)  # a signed copy, renamed over the package
                signed.append(path)
        if metadata or len(signed) > before or not (repomd.parent / SIGNATURE).is_file():
            _update_metadata(arch_dir, dist_dir, target.metadata_compression, names, key)
    return signed


def _is_signed(dist_dir: Path) -> bool:
    return (dist_dir / KEY_FILE).exists() or any(dist_dir.glob(f"*/repodata/{SIGNATURE}"))


def _signed_with(dist_dir: Path, key: SigningKey) -> bool:
    """Whether the repository is signed with ``key``: its published key is that key's."""
    published = dist_dir / KEY_FILE
    return published.is_file() and not published.is_symlink() and published.read_text() == public_key(key)


def _finish(dist_dir: Path, target: Target, baseurl: str, key: SigningKey | None) -> None:
    """The public key beside the repository and the .repo file that names it (or says that
    nothing is checked, for an unsigned repository)."""
    if key is not None:
        _write_atomically(dist_dir / KEY_FILE, public_key(key))
    else:  # an unsigned repository publishes no key or signature that would suggest otherwise
        (dist_dir / KEY_FILE).unlink(missing_ok=True)
        for signature in dist_dir.glob(f"*/repodata/{SIGNATURE}"):
            signature.unlink()
    _write_atomically(dist_dir / REPO_FILE, repo_file_text(target.dist, baseurl, signed=key is not None))


def _prune(arch_dir: Path, kept: set[str]) -> None:
    """Remove the packages (and their SBOMs) no metadata lists: pruned by retention, or the
    leftovers of a killed publish."""
    for path in arch_dir.glob("*.rpm"):
        if path.name not in kept and not path.is_symlink():
            path.unlink()
    for path in arch_dir.glob(f"*{SBOM_SUFFIX}"):
        if path.name.removesuffix(SBOM_SUFFIX) + ".rpm" not in kept and not path.is_symlink():
            path.unlink()


def _copy_sbom(rpm: Path, dest: Path, dist: str) -> None:
    """The SBOM beside ``rpm`` beside its published copy; for a package pkgrun did not build, one
    made from the RPM itself: every published package has one."""
    sbom = rpm.with_name(rpm.name.removesuffix(".rpm") + SBOM_SUFFIX)
    published = dest.with_name(dest.name.removesuffix(".rpm") + SBOM_SUFFIX)
    beside = sbom.read_text() if sbom.is_file() and not sbom.is_symlink() else ""
    if describes(beside, content_digest(rpm)):
        _copy_into_place(sbom, published)
    else:  # none, or one about another package: what the RPM says
        _write_atomically(published, make_sbom(file_facts(rpm, dist)))


def _open_nofollow(path: Path, flags: int, mode: str) -> IO[Any]:
    """Open ``path`` without following a symlink there: in a shared repository, a link planted
    at a lock or temporary file's name must not make pkgrun write through it."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PkgrunError(
                f"{path} is a symlink; pkgrun does not write through links in the repository",
                hint="remove the link; it was not made by pkgrun",
            ) from None
        raise
    return os.fdopen(fd, mode)


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` (a temporary name): never through a link or
    into a file someone else made."""
    path.unlink(missing_ok=True)
    with _open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _copy_into_place(source: Path, dest: Path, key: SigningKey | None = None) -> None:
    """Copy under a temporary name (signed there with ``key``), then rename: a reader never sees
    half a file, nor an unsigned one."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    with source.open("rb") as src, _open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    if key is not None:
        sign_rpms(key, [tmp])
    _fsync(tmp)
    os.replace(tmp, dest)


def _beyond_retention(packages: Mapping[str, RpmHeader], keep: int, protect: set[str]) -> set[str]:
    """The files of the releases of each package name older than its newest ``keep``."""
    by_name: dict[str, list[tuple[EVR, str]]] = {}
    for filename, header in packages.items():
        by_name.setdefault(header.name, []).append((header.evr, filename))
    doomed: set[str] = set()
    for releases in by_name.values():
        releases.sort(key=lambda item: item[0], reverse=True)
        doomed |= {filename for _, filename in releases[keep:] if filename not in protect}
    return doomed


def _update_metadata(
    arch_dir: Path, dist_dir: Path, compression: str, packages: Sequence[str], key: SigningKey | None
) -> None:
    """New metadata for ``packages``, written aside and switched in; with ``key``, repomd.xml's
    detached signature is written aside too and renamed in just before it."""
    repodata = arch_dir / "repodata"
    with tempfile.TemporaryDirectory(prefix=".metadata-", dir=dist_dir) as tmp:
        pkglist = Path(tmp) / "pkglist"  # exactly the packages to list, by file name
        pkglist.write_text("".join(f"{name}\n" for name in packages))
        output = Path(tmp) / "out"
        output.mkdir()
        run(
            createrepo_argv(arch_dir, output, compression, pkglist),
            hint="createrepo_c could not write the repository metadata",
        )
        new = output / "repodata"
        repodata.mkdir(exist_ok=True)
        previous = _referenced(repodata / "repomd.xml")
        for item in new.iterdir():
            if item.name != "repomd.xml":
                _fsync(item)
                os.replace(item, repodata / item.name)
        _fsync(new / "repomd.xml")
        if key is not None:
            sign_file(key, new / "repomd.xml", new / SIGNATURE)
            os.replace(new / SIGNATURE, repodata / SIGNATURE)
        os.replace(new / "repomd.xml", repodata / "repomd.xml")  # the switch
        if key is None:
            (repodata / SIGNATURE).unlink(missing_ok=True)  # it would not match any more
        _fsync_dir(repodata)
    keep = previous | _referenced(repodata / "repomd.xml") | {"repomd.xml", SIGNATURE}
    for item in repodata.iterdir():
        if item.name not in keep:
            item.unlink()


def _referenced(repomd: Path) -> set[str]:
    """The data file names a repomd.xml points at."""
    if not repomd.is_file():
        return set()
    root = ElementTree.parse(repomd).getroot()
    return {Path(str(loc.get("href"))).name for loc in root.iterfind("repo:data/repo:location", _REPOMD_NS)}


def _clean_stale(arch_dir: Path) -> None:
    """Leftovers of a publish that was killed: partial copies (never listed by any metadata)."""
    for leftover in arch_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def record_index(dist_dir: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Add ``entries`` to the index; called under the repository's lock, written atomically."""
    index = read_index(dist_dir)
    index.update(entries)
    _write_atomically(dist_dir / INDEX_FILE, json.dumps(index, indent=1, sort_keys=True))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_new(tmp, text.encode())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
