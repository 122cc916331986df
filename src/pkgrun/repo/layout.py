"""Where things go in a distribution's repository: each architecture's directory (a noarch
package in every one, Target.arches), checked to lie inside it; the .repo file's text; and the
lock that lets one publisher at a time change it."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Collection, Iterator
from pathlib import Path

from pkgrun.repo.files import open_nofollow
from pkgrun.report import Reporter
from pkgrun.rpm.header import RpmHeader, UnsafeRpm
from pkgrun.targets import Target, target_of_dist
from pkgrun.trust.signing import KEY_FILE

REPO_FILE = "pkgrun.repo"


def repo_arch(target: Target, arch: str) -> str:
    """The architecture directory where a package of ``arch`` is looked up: noarch is in every
    one, so in the distribution's first."""
    return target.arches[0] if arch == "noarch" else arch


def repo_file_text(dist: str, baseurl: str, signed: bool) -> str:
    """The .repo file of a distribution's repository: signed packages and metadata checked
    against the key published beside it, or, for an unsigned repository, nothing checked; and
    the settings that make its packages win where the distribution's repositories are enabled
    too (Target.repo_settings)."""
    base = baseurl.rstrip("/")
    target = target_of_dist(dist)
    settings = "".join(f"{line}\n" for line in (target.repo_settings if target else ()))
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
        f"{settings}"
        "metadata_expire=60\n"
    )


@contextlib.contextmanager
def repo_lock(dist_dir: Path, reporter: Reporter, who: str) -> Iterator[None]:
    """One publisher per distribution at a time; a waiting one says so."""
    dist_dir.mkdir(parents=True, exist_ok=True)
    with open_nofollow(dist_dir / ".lock", os.O_RDWR | os.O_CREAT, "a+") as fh:
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


def destinations(
    dist_dir: Path, target: Target, header: RpmHeader, made: Collection[Path] = ()
) -> list[Path]:
    """Where ``header``'s package goes: its architecture's directory, or for noarch every one of
    the distribution's and of those ``made`` already; each checked to resolve inside ``dist_dir``."""
    if header.arch == "noarch":
        dirs = [dist_dir / arch for arch in target.arches]
        dirs += sorted(d for d in made if d not in dirs and d.name != "noarch")
    else:
        dirs = [dist_dir / header.arch]
    return [inside(dist_dir, d / header.filename, header.nevra) for d in dirs]


def inside(dist_dir: Path, dest: Path, what: str) -> Path:
    inside = dist_dir.resolve()
    if not dest.resolve().is_relative_to(inside) or not dest.parent.resolve().is_relative_to(inside):
        raise UnsafeRpm(
            f"{what} would be written to {dest.resolve()}, outside {inside}",
            hint="nothing was written; is a directory of the repository a symlink?",
        )
    return dest
