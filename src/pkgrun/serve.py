"""`pkgrun serve`: the repository over HTTP, for containers and hosts to install from.

A plain static file server, except that ``<dist>/pkgrun.repo`` is answered with a .repo file
whose baseurl is this server as the client reached it.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pkgrun.repo import REPO_FILE, repo_file_text


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 2 and parts[1] == REPO_FILE and (Path(self.directory) / parts[0]).is_dir():
            host = self.headers.get("Host") or "127.0.0.1"  # HTTP/1.1 clients always say Host
            body = repo_file_text(parts[0], f"http://{host}").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the CLI reports; per-request lines would drown it


def make_server(repo: Path, bind: str, port: int) -> ThreadingHTTPServer:
    handler = functools.partial(_Handler, directory=str(repo))
    return ThreadingHTTPServer((bind, port), handler)
