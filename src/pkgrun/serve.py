"""`pkgrun serve`: the repository over HTTP, for containers and hosts to install from.

A static file server that never leaves the repository: a path that resolves outside it (through
a symlink) or names a hidden file (a lock, a temporary file) is not found. ``<dist>/pkgrun.repo``
is answered with a .repo file whose baseurl is ``--base-url`` when given, else this server as
the client reached it, taken from the Host header only when that header is a plain host[:port]
(a header with line breaks or other characters would write lines of its own into the file).
"""

from __future__ import annotations

import functools
import os
import re
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from pkgrun.errors import UsageError
from pkgrun.repo import REPO_FILE, repo_file_text
from pkgrun.signing import KEY_FILE

# host or IPv4 address, or [IPv6], optionally :port; nothing else may come from a Host header
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?:/[A-Za-z0-9._~/%-]*)?")


def check_base_url(url: str) -> str:
    if not _BASE_URL.fullmatch(url) or not urlsplit(url).hostname:
        raise UsageError(
            f"--base-url {url!r} is not an http(s) URL of a host",
            hint="e.g. --base-url http://repo.example.internal:8780 (the URL clients reach this server at)",
        )
    return url.rstrip("/")


class _Handler(SimpleHTTPRequestHandler):
    base_url: str | None = None

    def do_GET(self) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 2 and parts[1] == REPO_FILE and self._inside(Path(self.directory) / parts[0]):
            signed = (Path(self.directory) / parts[0] / KEY_FILE).is_file()
            body = repo_file_text(parts[0], self._base(), signed).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def _base(self) -> str:
        if self.base_url:
            return self.base_url
        host = self.headers.get("Host", "")
        if not _HOST.fullmatch(host):
            address, port = self.server.server_address[0], self.server.server_address[1]  # type: ignore[index]
            host = f"[{address}]:{port}" if ":" in str(address) else f"{address}:{port}"
        return f"http://{host}"

    def translate_path(self, path: str) -> str:
        """The file for ``path``, or one that does not exist when it would leave the repository
        or names a hidden file: the client gets a 404, never a file from elsewhere."""
        translated = Path(super().translate_path(path))
        root = Path(self.directory).resolve()
        try:
            relative = translated.relative_to(self.directory)
            inside = self._inside(translated)
        except (ValueError, OSError, RuntimeError):
            return str(root / ".not-found")
        if not inside or any(part.startswith(".") for part in relative.parts):
            return str(root / ".not-found")
        return str(translated)

    def _inside(self, path: Path) -> bool:
        root = Path(self.directory).resolve()
        try:
            return path.resolve().is_relative_to(root) and os.path.isdir(root)
        except (OSError, RuntimeError):
            return False

    def list_directory(self, path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
        self.send_error(404, "directory listings are off")  # the paths are in repodata
        return None

    def log_message(self, format: str, *args: object) -> None:
        pass  # the CLI reports; per-request lines would drown it


def make_server(repo: Path, bind: str, port: int, base_url: str | None = None) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"base_url": check_base_url(base_url) if base_url else None})
    return ThreadingHTTPServer((bind, port), functools.partial(handler, directory=str(repo.resolve())))
