"""What `pkgrun serve` answers a request with, decided before a byte of it is sent.

Pure but for reading the repository: a request head in, an Answer out (status, headers and a body
or an open file). A request that is not plain HTTP/1.x GET or HEAD of a path is refused with a 4xx
status, never an exception. A path is answered only with a regular file inside the repository: a
hidden name (a lock, a temporary file, ``..``), a symlink or directory leading out, a FIFO or a
device is not found, and the file is checked again after it is opened (someone who can write the
repository could swap a directory for a symlink in between). ``<dist>/pkgrun.repo`` of a
distribution the repository holds is a .repo file pointing at this server.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

from pkgrun.errors import UsageError
from pkgrun.repo.layout import REPO_FILE, repo_file_text
from pkgrun.trust.signing import KEY_FILE

# host or IPv4 address, or [IPv6], optionally :port; nothing else may come from a Host header
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?:/[A-Za-z0-9._~/%-]*)?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_TYPES = {
    ".rpm": "application/x-rpm",
    ".xml": "text/xml",
    ".gz": "application/gzip",
    ".xz": "application/x-xz",
    ".bz2": "application/x-bzip2",
    ".zst": "application/zstd",
    ".json": "application/json",
    ".asc": "text/plain; charset=utf-8",
    ".repo": "text/plain; charset=utf-8",
    ".sqlite": "application/vnd.sqlite3",
}
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


def check_base_url(url: str) -> str:
    if not _BASE_URL.fullmatch(url) or not urlsplit(url).hostname:
        raise UsageError(
            f"--base-url {url!r} is not an http(s) URL of a host",
            hint="e.g. --base-url http://repo.example.internal:8780 (the URL clients reach this server at)",
        )
    return url.rstrip("/")


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: int | None = None  # an open file descriptor
    size: int = 0  # of the file, as Content-Length says
    close: bool = False  # the connection cannot be reused after it (a bad request)

    def head(self, version: str, keep_alive: bool) -> bytes:
        lines = [f"{version} {self.status} {REASONS.get(self.status, 'Unknown')}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Date: {formatdate(usegmt=True)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def discard(self) -> None:
        if self.file is not None:
            os.close(self.file)
            self.file = None


def error(status: int, why: str, close: bool = False) -> Answer:
    body = f"{status} {REASONS.get(status, '')}: {why}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    if status == 405:
        headers.append(("Allow", "GET, HEAD"))
    return Answer(status, headers, body, close=close)


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str  # HTTP/1.0 or HTTP/1.1
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        connection = {v.strip().lower() for v in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class BadRequest(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.answer = error(status, why, close=True)


def parse_head(lines: list[bytes]) -> Request:
    """The request a head's lines (without their line ends) make, or BadRequest."""
    try:
        text = [lines[0].decode("ascii")] + [line.decode("latin-1") for line in lines[1:]]
    except UnicodeDecodeError:
        raise BadRequest(400, "the request line is ASCII") from None
    parts = text[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise BadRequest(400, "the request line is METHOD PATH HTTP/1.1")
    method, target, version = parts
    if not re.fullmatch(r"HTTP/[0-9]\.[0-9]", version):
        raise BadRequest(400, "the request line is METHOD PATH HTTP/1.1")
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505, f"{version} is not served: HTTP/1.0 and HTTP/1.1 are")
    headers: dict[str, str] = {}
    for line in text[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or any(c < " " and c != "\t" for c in value):
            raise BadRequest(400, "a header line is NAME: VALUE")
        key = name.lower()
        if key == "host" and key in headers:
            raise BadRequest(400, "a request has one Host header")
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return Request(method, target, version, headers)


def has_body(request: Request) -> bool:
    """Whether the request says a body follows (never read: the connection is closed after it)."""
    return "transfer-encoding" in request.headers or request.headers.get("content-length", "0") != "0"


def path_parts(target: str) -> list[str]:
    """The decoded segments of a request target's path, or BadRequest for what no client sends:
    a target not starting with '/', a broken %-escape, bytes that are not UTF-8, control
    characters (NUL among them)."""
    if target.startswith(("http://", "https://")):  # absolute-form, which servers must take
        target = urlsplit(target).path or "/"
    if not target.startswith("/"):
        raise BadRequest(400, "the path starts with /")
    path = target.split("?", 1)[0].split("#", 1)[0]
    if _PERCENT.search(path):
        raise BadRequest(400, "a % in the path is followed by two hex digits")
    parts = []
    for raw in path.split("/"):
        try:
            part = _unquote(raw)
        except UnicodeDecodeError:
            raise BadRequest(400, "the path is UTF-8") from None
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in part):
            raise BadRequest(400, "the path holds a control character")
        if part:
            parts.append(part)
    return parts


def _unquote(raw: str) -> str:
    data = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == "%":
            data.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            data += raw[i].encode()
            i += 1
    return data.decode("utf-8")


class Site:
    """The repository as the server answers it."""

    def __init__(self, repo: Path, base_url: str | None, own_address: str) -> None:
        self.root = repo.resolve()
        self.base_url = base_url
        self.own_address = own_address  # host:port, [v6]:port

    def answer(self, request: Request) -> Answer:
        if request.method not in ("GET", "HEAD"):
            return error(405, f"{request.method} is not served: GET and HEAD are")
        parts = path_parts(request.target)
        if any(part.startswith(".") or "/" in part for part in parts):
            return error(404, "no such file")
        if len(parts) == 2 and parts[1] == REPO_FILE:
            return self._repo_file(parts[0], request)
        return self._file(parts)

    def _inside(self, path: str) -> bool:
        """Whether a resolved ``path`` is in the repository and names nothing hidden there (a
        link inside may lead to a lock or a temporary file)."""
        if path == str(self.root):
            return True
        prefix = str(self.root) + os.sep
        return path.startswith(prefix) and not any(
            p.startswith(".") for p in path[len(prefix) :].split(os.sep)
        )

    def _repo_file(self, dist: str, request: Request) -> Answer:
        dist_dir = self.root / dist
        real = os.path.realpath(dist_dir)
        if not self._inside(real) or not any(Path(real).glob("*/repodata/repomd.xml")):
            return error(404, f"this repository holds no distribution {dist!r}")
        signed = (Path(real) / KEY_FILE).is_file()
        body = repo_file_text(dist, self._base(request), signed).encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        return Answer(200, headers, body)

    def _base(self, request: Request) -> str:
        if self.base_url:
            return self.base_url
        host = request.headers.get("host", "")
        return f"http://{host if _HOST.fullmatch(host) else self.own_address}"

    def _file(self, parts: list[str]) -> Answer:
        real = os.path.realpath(self.root.joinpath(*parts))
        if not parts or not self._inside(real):
            return error(404, "no such file")
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return error(404, "no such file")
        try:
            st = os.fstat(fd)
            opened = os.readlink(f"/proc/self/fd/{fd}") if os.path.isdir("/proc/self/fd") else real
        except OSError:
            os.close(fd)
            return error(404, "no such file")
        if not stat.S_ISREG(st.st_mode) or not self._inside(opened):
            os.close(fd)
            why = "directory listings are off" if stat.S_ISDIR(st.st_mode) else "no such file"
            return error(404, why)  # the paths are in repodata
        headers = [
            ("Content-Type", _content_type(real)),
            ("Content-Length", str(st.st_size)),
            ("Last-Modified", formatdate(st.st_mtime, usegmt=True)),
        ]
        return Answer(200, headers, file=fd, size=st.st_size)


def _content_type(path: str) -> str:
    return _TYPES.get(os.path.splitext(path)[1], "application/octet-stream")
