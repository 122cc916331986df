"""A distribution's metadata, written the way a publish needs it: createrepo_c writes it aside,
reusing only pkgrun's own copy of what it wrote last (kept beside its record of what it
published, never the repository's, which anyone who can write the repository can rewrite); it
is checked to list exactly the recorded packages with their recorded digests; repomd.xml's
detached signature goes in just before repomd.xml itself, whose rename is the switch."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree

from pkgrun.errors import PkgrunError
from pkgrun.repo.files import fsync, fsync_dir
from pkgrun.repo.ledger import Ledger, Record
from pkgrun.run import run
from pkgrun.trust.signing import SigningKey, sign_file

SIGNATURE = "repomd.xml.asc"  # repomd.xml's detached, armored signature
_REPOMD_NS = {"repo": "http://linux.duke.edu/metadata/repo"}


def createrepo_argv(
    packages: Path, outputdir: Path, compression: str, pkglist: Path, reuse: Path | None = None
) -> list[str]:
    """New metadata for the RPMs of ``packages`` named in ``pkglist``, written under
    ``outputdir``, reusing the metadata in ``reuse`` (a directory holding repodata/) for packages
    that did not change."""
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
    if reuse is not None:
        argv += ["--update-md-path", str(reuse)]
    return argv + [str(packages)]


def update_metadata(
    arch_dir: Path,
    dist_dir: Path,
    ledger: Ledger,
    packages: Mapping[str, Record],
    compression: str,
    key: SigningKey | None,
) -> None:
    """New metadata for ``packages``, written aside, checked to list exactly them with the
    recorded digests, and switched in; with ``key``, repomd.xml's detached signature is written
    aside too and renamed in just before it. What createrepo_c reuses is pkgrun's own copy of the
    metadata it wrote last (kept beside its record), never the repository's, which anyone who can
    write the repository can rewrite."""
    repodata = arch_dir / "repodata"
    if arch_dir.is_symlink() or repodata.is_symlink():
        raise PkgrunError(
            f"{repodata if repodata.is_symlink() else arch_dir} is a symlink; pkgrun does not write "
            "through links in the repository",
            hint="nothing was switched; remove the link (it was not made by pkgrun) and publish again",
        )
    trusted = ledger.path.with_suffix("") / arch_dir.name
    with tempfile.TemporaryDirectory(prefix=".metadata-", dir=dist_dir) as tmp:
        pkglist = Path(tmp) / "pkglist"  # exactly the packages to list, by path
        pkglist.write_text("".join(f"{href}\n" for href in sorted(packages)))
        output = Path(tmp) / "out"
        output.mkdir()
        reuse = trusted if (trusted / "repodata" / "repomd.xml").is_file() else None
        run(
            createrepo_argv(arch_dir, output, compression, pkglist, reuse),
            hint="createrepo_c could not write the repository metadata",
        )
        _check_lists(output, arch_dir, packages)
        new = output / "repodata"
        _keep_copy(new, trusted)  # what pkgrun wrote, whether or not the switch below happens
        repodata.mkdir(exist_ok=True)
        previous = _referenced(repodata / "repomd.xml")
        for item in new.iterdir():
            if item.name != "repomd.xml":
                fsync(item)
                os.replace(item, repodata / item.name)
        fsync(new / "repomd.xml")
        if key is not None:
            sign_file(key, new / "repomd.xml", new / SIGNATURE)
            shutil.copyfile(new / SIGNATURE, trusted / "repodata" / SIGNATURE)
            os.replace(new / SIGNATURE, repodata / SIGNATURE)
        os.replace(new / "repomd.xml", repodata / "repomd.xml")  # the switch
        if key is None:
            (repodata / SIGNATURE).unlink(missing_ok=True)  # it would not match any more
        fsync_dir(repodata)
    keep = previous | _referenced(repodata / "repomd.xml") | {"repomd.xml", SIGNATURE}
    for item in repodata.iterdir():
        if item.name not in keep:
            item.unlink()


def is_current(arch_dir: Path, ledger: Ledger, signed: bool) -> bool:
    """Whether ``arch_dir``'s live repomd.xml (and its signature, when ``signed``; none when not)
    and every data file it names are, byte for byte, what pkgrun last wrote there: metadata of
    packages that did not change is then not written again."""
    trusted = ledger.path.with_suffix("") / arch_dir.name / "repodata"
    live = arch_dir / "repodata"
    try:
        if live.is_symlink() or (not signed and (live / SIGNATURE).exists()):
            return False
        names = {"repomd.xml", *_referenced(trusted / "repomd.xml"), *((SIGNATURE,) if signed else ())}
        return all((live / n).read_bytes() == (trusted / n).read_bytes() for n in sorted(names))
    except (OSError, ElementTree.ParseError):
        return False


def _check_lists(output: Path, arch_dir: Path, packages: Mapping[str, Record]) -> None:
    """The metadata about to be signed lists exactly ``packages``, each with its recorded sha256:
    a file changed under pkgrun between its record and createrepo_c's reading is caught here."""
    import createrepo_c as cr  # type: ignore[import-untyped]

    metadata = cr.Metadata()
    metadata.locate_and_load_xml(str(output))
    listed = {str(metadata.get(k).location_href): str(metadata.get(k).pkgId) for k in metadata.keys()}  # noqa: SIM118
    wanted = {href: record.sha256 for href, record in packages.items()}
    if listed != wanted:
        wrong = sorted(h for h in set(listed) | set(wanted) if listed.get(h) != wanted.get(h))
        raise PkgrunError(
            f"the new metadata of {arch_dir} does not match pkgrun's record for: "
            + ", ".join(str(arch_dir / h) for h in wrong[:10]),
            hint="nothing was switched in or signed; a package file changed while pkgrun was "
            "publishing: find out who writes the repository, then publish again",
        )


def _keep_copy(new_repodata: Path, trusted: Path) -> None:
    """pkgrun's own copy of the metadata it just switched in, for createrepo_c to reuse next."""
    staged = trusted.with_name(f".{trusted.name}.{os.getpid()}.new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(new_repodata, staged / "repodata")
    old = trusted.with_name(f".{trusted.name}.{os.getpid()}.old")
    if trusted.exists():
        os.replace(trusted, old)
    os.replace(staged, trusted)
    shutil.rmtree(old, ignore_errors=True)


def _referenced(repomd: Path) -> set[str]:
    """The data file names a repomd.xml points at."""
    if not repomd.is_file():
        return set()
    root = ElementTree.parse(repomd).getroot()
    return {Path(str(loc.get("href"))).name for loc in root.iterfind("repo:data/repo:location", _REPOMD_NS)}
