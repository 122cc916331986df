"""Find a PyPI project's sdist through pip's configured index, by the simple API (PEP 503/691).

``pip download`` cannot be used: it builds the metadata of an sdist first, and old sdists
(supervisor 3.1.4, whose setup.py refuses Python 3) fail there. The index's simple page lists
every file with its sha256, which is all pkgrun needs. No index host is named here: the URLs are
pip's own, from its environment variables, its configuration files, or its built-in default.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from pkgrun import __version__
from pkgrun.errors import PkgrunError
from pkgrun.run import run

TIMEOUT = 60


@dataclass(frozen=True)
class IndexFile:
    url: str
    sha256: str | None


def normalize(project: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", project).lower()


def index_urls(pip: Mapping[str, str]) -> list[str]:
    """pip's index URLs, first the main one, then the extra ones."""
    main = pip.get("PIP_INDEX_URL")
    extra = pip.get("PIP_EXTRA_INDEX_URL", "").split()
    if main is None or not extra:
        config = _pip_config()
        main = main or config.get("index-url")
        extra = extra or config.get("extra-index-url", "").split()
    if not main:
        main = _pip_default_index()
    return [main, *extra]


def _pip_config() -> dict[str, str]:
    """index-url and extra-index-url from `pip config list` (later files win, as in pip)."""
    result = run([sys.executable, "-m", "pip", "config", "list"], check=False)
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(global|install|download)\.((?:extra-)?index-url)='(.*)'$", line.strip())
        if match:
            found[match.group(2)] = match.group(3)
    return found


def _pip_default_index() -> str:
    result = run(
        [sys.executable, "-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"],
        hint="pkgrun finds PyPI sources through pip: install pip, or set PIP_INDEX_URL",
    )
    return result.stdout.strip()


def find_file(project: str, filename: str, pip: Mapping[str, str]) -> IndexFile:
    """The URL (and the index's sha256) of ``filename`` of ``project``, from the first index
    that lists it."""
    tried = []
    for index in index_urls(pip):
        page = index.rstrip("/") + "/" + normalize(project) + "/"
        try:
            files = _list_files(page)
        except (OSError, ValueError) as exc:
            tried.append(f"{_safe(page)}: {exc}")
            continue
        for name, found in files.items():
            if name == filename or normalize(name) == normalize(filename):
                return found
        tried.append(f"{_safe(page)}: no {filename}")
    raise PkgrunError(
        f"{filename} not found in pip's index",
        hint="tried " + "; ".join(tried) + ". Check the version, or pip's index-url (pip config list)",
    )


def _safe(url: str) -> str:
    """The URL without credentials, for messages."""
    parts = urlsplit(url)
    return url.replace(f"{parts.username}:{parts.password}@", "") if parts.password else url


def _list_files(page: str) -> dict[str, IndexFile]:
    request = urllib.request.Request(
        page,
        headers={
            "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
            "User-Agent": f"pkgrun/{__version__}",
        },
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        content_type = response.headers.get("Content-Type", "")
        body = response.read().decode("utf-8", errors="replace")
        base = response.geturl()
    if "json" in content_type:
        data = json.loads(body)
        return {
            f["filename"]: IndexFile(urljoin(base, f["url"]), f.get("hashes", {}).get("sha256"))
            for f in data.get("files", [])
        }
    parser = _Links()
    parser.feed(body)
    out = {}
    for href, text in parser.links:
        url, _, fragment = urljoin(base, href).partition("#")
        sha = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        out[text.strip() or url.rsplit("/", 1)[-1]] = IndexFile(url, sha)
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None
