"""`pkgrun serve`: the repository over HTTP, for containers and hosts to install from.

An asynchronous server on one thread that sheds load instead of starving: at most
``max_connections`` connections at once (below the open-file limit, so that accepting never
fails), and when they are all taken a new one evicts the oldest connection that is waiting for a
request head (an idle keep-alive, a client that never sends, a slow drip of header bytes); one
that finds every connection busy answering gets 503. A request head must arrive within
``head_timeout`` seconds and each chunk of an answer must leave within ``send_timeout``. Nothing
a client sends raises out of a connection, and nothing is printed per request: the CLI reports.
What is answered is decided in serve_answer.py.
"""

from __future__ import annotations

import asyncio
import errno
import os
import resource
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pkgrun.errors import UsageError
from pkgrun.repo.serve_answer import Answer, BadRequest, Site, check_base_url, error, has_body, parse_head

CHUNK = 64 << 10
_RESERVED_FILES = 32  # the process's own: standard streams, the repository's metadata, logs


@dataclass(frozen=True)
class Limits:
    max_connections: int
    head_timeout: float = 10.0
    send_timeout: float = 30.0
    max_line: int = 8 << 10
    max_head: int = 32 << 10
    max_headers: int = 64

    @classmethod
    def for_open_files(cls, soft_limit: int) -> Limits:
        """Each connection holds a socket and, while answering, a file: half of what the
        open-file limit leaves, at most 512."""
        return cls(max(4, min(512, (soft_limit - _RESERVED_FILES) // 2)))

    @classmethod
    def of_this_process(cls) -> Limits:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return cls.for_open_files(soft if soft != resource.RLIM_INFINITY else 1 << 20)


class _Connection:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.waiting = True  # for a request head: may be evicted


@dataclass
class Counts:
    served: int = 0
    evicted: int = 0
    refused: int = 0
    timed_out: int = 0
    errors: int = 0


class RepoServer:
    """Listens as soon as it is made (a bad address is a UsageError here), serves in
    serve_forever() until shutdown() from another thread or Ctrl-C."""

    def __init__(
        self, repo: Path, bind: str, port: int, base_url: str | None = None, limits: Limits | None = None
    ) -> None:
        checked = check_base_url(base_url) if base_url else None
        self.limits = limits or Limits.of_this_process()
        self._sock = listen(bind, port)
        host, port = self._sock.getsockname()[:2]
        self.server_address = (str(host), int(port))
        own = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        self.site = Site(repo, checked, own)
        self.counts = Counts()
        self.errors: list[str] = []  # the last few of counts.errors, in words
        self._connections: OrderedDict[int, _Connection] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._closing = False

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def connection_states(self) -> list[bool]:
        """For each open connection, whether it waits for a request head (it may be evicted)."""
        return [c.waiting for c in list(self._connections.values())]

    def serve_forever(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._done.set()

    def shutdown(self) -> None:
        """Stops serve_forever (running or about to run in another thread) and waits for it."""
        with self._lock:
            self._closing = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
            self._done.wait(10)

    def server_close(self) -> None:
        self._sock.close()

    async def _serve(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
        self._loop.set_exception_handler(self._loop_error)
        server = await asyncio.start_server(
            self._client, sock=self._sock, limit=self.limits.max_line, backlog=128
        )
        try:
            await self._stop.wait()
        finally:
            server.close()
            for connection in list(self._connections.values()):
                connection.writer.transport.abort()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # accept() out of file descriptors and the like: asyncio retries; never a traceback.
        # A connection's task cancelled when the server stops (asyncio.run cancels what is left)
        # is no error: Python 3.11's streams report it through here (3.12 checks first).
        if isinstance(context.get("exception"), asyncio.CancelledError):
            return
        self._error(f"{context.get('message')}: {context.get('exception')!r}")

    def _error(self, what: str) -> None:
        self.counts.errors += 1
        self.errors = [*self.errors[-9:], what]

    def _admit(self, connection: _Connection) -> bool:
        if len(self._connections) >= self.limits.max_connections:
            oldest = next((c for c in self._connections.values() if c.waiting), None)
            if oldest is None:
                self.counts.refused += 1
                answer = error(503, "every connection is busy; try again", close=True)
                answer.headers.append(("Retry-After", "1"))
                connection.writer.write(answer.head("HTTP/1.1", False) + answer.body)
                connection.writer.close()
                return False
            self.counts.evicted += 1
            self._forget(oldest)
            oldest.writer.transport.abort()
        self._connections[id(connection)] = connection
        return True

    def _forget(self, connection: _Connection) -> None:
        self._connections.pop(id(connection), None)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        if not self._admit(connection):
            return
        try:
            while await self._one_request(connection, reader):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError):
            pass  # the client went away, or was too slow
        except Exception as exc:
            self._error(f"answering a connection: {exc!r}")
        finally:
            self._forget(connection)
            writer.transport.abort()

    async def _one_request(self, connection: _Connection, reader: asyncio.StreamReader) -> bool:
        """Reads and answers one request; whether the connection may carry another."""
        connection.waiting = True
        if id(connection) in self._connections:  # evicted first: the one waiting longest
            self._connections.move_to_end(id(connection))
        try:
            async with asyncio.timeout(self.limits.head_timeout):
                lines = await self._read_head(reader)
        except TimeoutError:
            self.counts.timed_out += 1
            return False
        except BadRequest as exc:
            await self._send(connection, exc.answer, "HTTP/1.1", head_only=False, keep_alive=False)
            return False
        if lines is None:
            return False
        connection.waiting = False
        request = None
        try:
            request = parse_head(lines)
            answer = self.site.answer(request)
        except BadRequest as exc:  # closes the connection (answer.close)
            answer = exc.answer
        version = request.version if request else "HTTP/1.1"
        head_only = request is not None and request.method == "HEAD"
        keep_alive = request is not None and request.keep_alive and not answer.close and not has_body(request)
        await self._send(connection, answer, version, head_only, keep_alive)
        self.counts.served += 1
        return keep_alive

    async def _read_head(self, reader: asyncio.StreamReader) -> list[bytes] | None:
        lines: list[bytes] = []
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # longer than the stream's limit
                raise BadRequest(431, "a request head line is too long") from None
            if not line:
                if lines:
                    raise asyncio.IncompleteReadError(b"", None)
                return None
            line = line.rstrip(b"\r\n")
            if not line:
                if lines:
                    return lines
                continue  # an empty line before the request line is allowed
            lines.append(line)
            if len(lines) > self.limits.max_headers or sum(map(len, lines)) > self.limits.max_head:
                raise BadRequest(431, "too many header lines")

    async def _send(
        self, connection: _Connection, answer: Answer, version: str, head_only: bool, keep_alive: bool
    ) -> None:
        try:
            writer = connection.writer
            writer.write(answer.head(version, keep_alive))
            if not head_only:
                writer.write(answer.body)
            await self._drain(writer)
            if answer.file is not None and not head_only:
                await self._send_file(writer, answer.file, answer.size)
        finally:
            answer.discard()

    async def _send_file(self, writer: asyncio.StreamWriter, fd: int, size: int) -> None:
        left = size
        while left > 0:
            chunk = os.read(fd, min(CHUNK, left))
            if not chunk:  # the file shrank under us: the client must not take it as whole
                raise ConnectionAbortedError("file shrank")
            writer.write(chunk)
            left -= len(chunk)
            await self._drain(writer)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(self.limits.send_timeout):
            await writer.drain()


def listen(bind: str, port: int) -> socket.socket:
    """A listening socket on ``bind``:``port`` (IPv4 or IPv6, ``::`` taking both), or a
    UsageError naming the option at fault."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: a port is 0 to 65535", hint="0 picks a free port")
    host = bind[1:-1] if bind.startswith("[") and bind.endswith("]") else bind
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError):
        raise UsageError(
            f"--bind {bind!r} is not an address or host name",
            hint="e.g. --bind 127.0.0.1, --bind ::1, or --bind 0.0.0.0 / --bind :: for every address",
        ) from None
    family, _, _, _, address = infos[0]
    dual = family == socket.AF_INET6 and host == "::" and socket.has_dualstack_ipv6()
    try:
        return socket.create_server(address, family=family, backlog=128, dualstack_ipv6=dual)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"--port {port}: in use on {bind}", hint="pick another port, or 0") from None
        if exc.errno == errno.EACCES:
            raise UsageError(
                f"--port {port}: needs privileges this user does not have", hint="use a port above 1023"
            ) from None
        raise UsageError(
            f"--bind {bind!r}: cannot listen there ({exc.strerror})",
            hint="give an address of this machine, e.g. 127.0.0.1 or ::1",
        ) from None


def make_server(
    repo: Path, bind: str, port: int, base_url: str | None = None, limits: Limits | None = None
) -> RepoServer:
    return RepoServer(repo, bind, port, base_url, limits)
