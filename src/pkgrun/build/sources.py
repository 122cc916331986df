"""Source archives: fetched once into a cache, verified by sha256 before any use.

Lookup order: the cache; then each mirror (a directory or a URL, files by their upstream name);
then the upstream URL, or for a PyPI source the file that pip's index lists. A download goes to
a ``.part`` file and becomes the cached file only once its checksum matches; a mismatch deletes
it and stops the build before any container starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import quote, urlsplit

from pkgrun import __version__
from pkgrun.build import pypi
from pkgrun.build.plan import ResolvedSource
from pkgrun.errors import PkgrunError
from pkgrun.numerals import number
from pkgrun.report import Advance, Reporter

CHUNK = 1 << 16
TIMEOUT = 60


class TooLarge(PkgrunError):
    pass


class ChecksumMismatch(PkgrunError):
    def __init__(self, filename: str, origin: str, expected: str, actual: str) -> None:
        super().__init__(
            f"checksum mismatch for {filename} from {origin}: expected sha256 {expected}, got {actual}",
            hint="the download was deleted and nothing was built. If upstream really changed the "
            "file, verify it and update [source.sha256] in the recipe",
        )


class SourceUnavailable(PkgrunError):
    pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_source(
    source: ResolvedSource,
    *,
    recipe: str,
    cache_dir: Path,
    mirrors: Sequence[str],
    reporter: Reporter,
    pip: Mapping[str, str] | None = None,
    max_bytes: int = 2 << 30,
) -> Path:
    """The verified source file in the cache, downloading it if needed. A download never stays
    in the cache half-done: it goes to a ``.part`` file, removed on any failure or interruption,
    and becomes the cached file by a rename once its checksum matches. ``pip``: pip's index
    settings (PIP_INDEX_URL, ...) for a PyPI source; ``max_bytes``: the download limit."""
    target = cache_dir / "sources" / source.filename
    if target.is_file():
        if sha256_file(target) == source.sha256:
            reporter.note(recipe, f"source {source.filename}: cached, sha256 verified")
            return target
        target.unlink()  # stale or damaged: fetch again
    target.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own for each download: two builds of one run may fetch the same source
    part = target.with_name(target.name + f".{os.getpid()}.{threading.get_ident()}.part")
    failures = []
    for origin in _origins(source, mirrors):
        try:
            _copy(
                origin,
                part,
                pip or {},
                lambda total: reporter.progress(recipe, f"fetch {source.filename}", total),
                max_bytes,
            )
        except (OSError, URLError, ValueError) as exc:
            failures.append(f"{origin}: {exc}")
            part.unlink(missing_ok=True)
            continue
        except BaseException:  # a size limit, Ctrl-C, a bug: nothing half-done stays
            part.unlink(missing_ok=True)
            raise
        actual = sha256_file(part)
        if actual != source.sha256:
            part.unlink()
            raise ChecksumMismatch(source.filename, origin, source.sha256, actual)
        os.replace(part, target)
        reporter.note(recipe, f"source {source.filename}: fetched from {origin}, sha256 verified")
        return target
    raise SourceUnavailable(
        f"could not fetch {source.filename}",
        hint="tried:\n  "
        + "\n  ".join(failures)
        + "\nfor an offline build, put the file in a mirror directory and pass --mirror DIR",
    )


def _origins(source: ResolvedSource, mirrors: Sequence[str]) -> list[str]:
    origins = [_join(mirror, source.filename) for mirror in mirrors]
    if source.url is not None:
        origins.append(source.url)
    elif source.pypi is not None:
        # looked up only when the mirrors did not have it: the index may be unreachable offline
        origins.append(f"pypi:{source.pypi}")
    return origins


def _join(mirror: str, filename: str) -> str:
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + quote(filename)
    return str(Path(mirror) / filename)


def _copy(
    origin: str,
    part: Path,
    pip: Mapping[str, str],
    progress: Callable[[int | None], Advance],
    limit: int,
) -> None:
    if origin.startswith("pypi:"):  # the file's name is the part file's, up to its pid
        filename = part.name[: part.name.rindex(f".{os.getpid()}.")]
        origin = pypi.find_file(origin.removeprefix("pypi:"), filename, pip).url
    if "://" not in origin:
        with open(origin, "rb") as src, part.open("wb") as dst:
            _copy_limited(src, dst, origin, limit, lambda n: None)
        return
    if urlsplit(origin).scheme not in ("http", "https", "file", "ftp"):
        raise ValueError(f"unsupported URL scheme in {origin}")
    request = urllib.request.Request(origin, headers={"User-Agent": f"pkgrun/{__version__}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response, part.open("wb") as dst:
        length = response.headers.get("Content-Length")
        size = number(length.strip()) if length else None
        if size is not None and size > limit:
            raise _too_large(origin, size, limit)
        _copy_limited(response, dst, origin, limit, progress(size))


def _copy_limited(src: Any, dst: Any, origin: str, limit: int, advance: Advance) -> None:
    copied = 0
    while chunk := src.read(CHUNK):
        copied += len(chunk)
        if copied > limit:
            raise _too_large(origin, copied, limit)
        dst.write(chunk)
        advance(len(chunk))


def _too_large(origin: str, size: int, limit: int) -> TooLarge:
    return TooLarge(
        f"{origin} is larger than the download limit ({size} > {limit} bytes); the partial file was removed",
        hint="if the source really is that large, raise PKGRUN_MAX_DOWNLOAD (e.g. 8G)",
    )


# the largest time an RPM header holds (an unsigned 32-bit number of seconds)
MAX_EPOCH = 2**32 - 1


def source_date_epoch(archive: Path, sha256: str) -> int:
    """The SOURCE_DATE_EPOCH a source implies: the newest time of a file in the archive, so that
    the same source makes the same package, on any day. Kept beside the cached source with the
    source's checksum, so that another file of the same name never inherits it."""
    import tarfile

    remembered = archive.with_name(archive.name + ".date-epoch")
    with contextlib.suppress(OSError, ValueError):
        digest, _, value = remembered.read_text().partition(" ")
        if digest == sha256:
            return int(value)
    try:
        with tarfile.open(archive) as tar:
            newest = max((int(member.mtime) for member in tar), default=0)
    except (tarfile.TarError, OSError) as exc:
        raise PkgrunError(
            f"{archive.name}: cannot read the archive's file times ({exc})",
            hint="set [source] date-epoch in the recipe (a Unix time) for this source",
        ) from None
    newest = min(newest, MAX_EPOCH)
    with contextlib.suppress(OSError):
        remembered.write_text(f"{sha256} {newest}")
    return newest
