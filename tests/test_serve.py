"""pkgrun serve: the repository's files over HTTP, a .repo file that points at the server, and
nothing from outside the repository, whatever a client sends."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkgrun.errors import UsageError
from pkgrun.repo.serve import Limits, RepoServer, make_server


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "el7" / "x86_64" / "repodata").mkdir(parents=True)
    (root / "el7" / "x86_64" / "repodata" / "repomd.xml").write_text("<repomd/>")
    (root / "el7" / "pkgrun.repo").write_text("baseurl=file:///somewhere/el7/$basearch/\n")
    (root / "el7" / ".lock").write_text("pid 1\n")
    (tmp_path / "secret").write_text("host file\n")
    (root / "el7" / "x86_64" / "leak.rpm").symlink_to(tmp_path / "secret")
    (root / "el7" / "x86_64" / "outside").symlink_to(tmp_path)
    return root


@contextlib.contextmanager
def running(repo: Path, base_url: str | None = None, limits: Limits | None = None) -> Iterator[RepoServer]:
    server = make_server(repo, "127.0.0.1", 0, base_url, limits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert not thread.is_alive()
    assert server.counts.errors == 0, server.errors  # nothing a client sent broke a connection's handling


def serving(repo: Path, base_url: str | None = None) -> Iterator[str]:
    with running(repo, base_url) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def base(repo: Path) -> Iterator[str]:
    yield from serving(repo)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def raw_request(base: str, request: bytes) -> str:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while data := conn.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def test_serves_files_and_a_repo_file_pointing_at_itself(base: str) -> None:
    assert get(f"{base}/el7/x86_64/repodata/repomd.xml") == (200, b"<repomd/>")
    status, body = get(f"{base}/el7/pkgrun.repo")
    repo_file = body.decode()
    assert status == 200
    assert f"baseurl={base}/el7/$basearch/" in repo_file
    assert repo_file.startswith("[pkgrun-el7]\n") and "gpgcheck=0" in repo_file


@pytest.mark.parametrize(
    "path",
    [
        "/el7/x86_64/leak.rpm",  # a symlink to a file outside
        "/el7/x86_64/outside/secret",  # through a symlinked directory
        "/el7/.lock",  # hidden files: locks, temporary files
        "/el7/x86_64/../../../secret",
        "/el7/x86_64/%2e%2e/%2e%2e/%2e%2e/secret",
        "/el7/x86_64/",  # no directory listings
    ],
)
def test_nothing_outside_the_repository_is_served(base: str, path: str) -> None:
    response = raw_request(base, f"GET {path} HTTP/1.0\r\n\r\n".encode())
    assert response.startswith("HTTP/1.0 404 "), response[:200]
    assert "host file" not in response and "pid 1" not in response


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example\r\n [pkgrun-evil]\r\n baseurl=http://evil.example", 400),  # header folding
        ("evil.example/x\nbaseurl=http://evil.example", 400),  # a line of its own, not a header
        ("evil.example:80 gpgcheck=0", 200),
        ("", 200),
    ],
)
def test_a_host_header_never_writes_lines_into_the_repo_file(base: str, host: str, status: int) -> None:
    request = f"GET /el7/pkgrun.repo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    response = raw_request(base, request.encode())
    head, body = response.split("\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 {status} ") and "evil" not in body
    if status == 200:
        assert body.count("[pkgrun-el7]") == 1 and body.count("baseurl=") == 1
        assert f"baseurl={base}/el7/$basearch/" in body  # the server's own address instead


def test_a_plain_host_header_is_used(base: str) -> None:
    response = raw_request(
        base,
        b"GET /el7/pkgrun.repo HTTP/1.1\r\nHost: repo.example.internal:8780\r\nConnection: close\r\n\r\n",
    )
    assert "baseurl=http://repo.example.internal:8780/el7/$basearch/" in response


def test_the_base_url_option_wins(repo: Path) -> None:
    for base in serving(repo, "https://packages.example.internal/pkgrun/"):
        status, body = get(f"{base}/el7/pkgrun.repo")
        assert status == 200
        assert "baseurl=https://packages.example.internal/pkgrun/el7/$basearch/" in body.decode()


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://a b", "http://x/\nbaseurl=y", "x"])
def test_a_bad_base_url_is_refused(repo: Path, url: str) -> None:
    with pytest.raises(UsageError, match="--base-url"):
        make_server(repo, "127.0.0.1", 0, url)


def test_a_signed_repository_is_served_with_its_key_and_a_repo_file_that_checks(repo: Path) -> None:
    (repo / "el7" / "RPM-GPG-KEY-pkgrun").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    (repo / "el7" / "x86_64" / "repodata" / "repomd.xml.asc").write_text("signature\n")
    for base in serving(repo):
        assert get(f"{base}/el7/RPM-GPG-KEY-pkgrun")[0] == 200
        assert get(f"{base}/el7/x86_64/repodata/repomd.xml.asc") == (200, b"signature\n")
        repo_file = get(f"{base}/el7/pkgrun.repo")[1].decode()
        assert f"gpgcheck=1\nrepo_gpgcheck=1\ngpgkey={base}/el7/RPM-GPG-KEY-pkgrun\n" in repo_file


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /el7/x86_64/%00 HTTP/1.1", 400),  # NUL
        (b"GET /el7/x86_64/a%0Ab HTTP/1.1", 400),  # a line break, decoded
        (b"GET /el7/x86_64/%zz HTTP/1.1", 400),  # a broken escape
        (b"GET /el7/x86_64/%e2%28%a1 HTTP/1.1", 400),  # not UTF-8
        (b"GET /el7/x86_64/\x01 HTTP/1.1", 400),
        (b"GET /el7/\xff HTTP/1.1", 400),  # not ASCII
        (b"GET el7/pkgrun.repo HTTP/1.1", 400),
        (b"GET / HTTP/1.1 extra", 400),
        (b"GET /", 400),  # HTTP/0.9
        (b"GET / HTTP/2.0", 505),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # TLS to a plain-HTTP port
        (b"POST /el7/pkgrun.repo HTTP/1.1", 405),
        (b"DELETE /el7/x86_64/repodata/repomd.xml HTTP/1.1", 405),
        (b"GET /el7/x86_64/%2e%2e%2f%2e%2e%2fsecret HTTP/1.1", 404),  # an escaped slash
        (b"GET /el7/x86_64/repodata HTTP/1.1", 404),  # a directory
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1", 431),
    ],
)
def test_a_request_no_client_sends_gets_a_clear_status_and_no_traceback(
    repo: Path, request_line: bytes, status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    with running(repo) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        response = raw_request(base, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert response.split("\r\n", 1)[0].split(" ")[1] == str(status), response[:200]
        assert "secret" not in response and "host file" not in response
        assert get(f"{base}/el7/x86_64/repodata/repomd.xml") == (200, b"<repomd/>")  # still serving
    assert capfd.readouterr() == ("", "")


def test_too_many_header_lines_are_refused(base: str) -> None:
    headers = b"".join(b"X-%d: y\r\n" % i for i in range(200))
    response = raw_request(base, b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
    assert response.startswith("HTTP/1.1 431 ")


@pytest.mark.parametrize("dist", ["nosuchdist", "el7/x86_64", "..", "%2e%2e"])
def test_no_repo_file_for_a_distribution_the_repository_does_not_hold(
    repo: Path, base: str, dist: str
) -> None:
    (repo / "el8").mkdir()  # a directory with no metadata is not a distribution either
    assert get(f"{base}/{dist}/pkgrun.repo")[0] == 404
    assert get(f"{base}/el8/pkgrun.repo")[0] == 404
    assert get(f"{base}/el7/pkgrun.repo")[0] == 200


@pytest.mark.parametrize(
    "path", ["/el7/pkgrun.repo", "/el7/x86_64/repodata/repomd.xml", "/nosuch/pkgrun.repo"]
)
def test_head_describes_what_get_answers(base: str, path: str) -> None:
    def headers(method: str) -> tuple[str, dict[str, str], str]:
        response = raw_request(
            base, f"{method} {path} HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\n\r\n".encode()
        )
        head, body = response.split("\r\n\r\n", 1)
        status, *lines = head.split("\r\n")
        return status, dict(line.split(": ", 1) for line in lines), body

    get_status, get_headers, get_body = headers("GET")
    head_status, head_headers, head_body = headers("HEAD")
    get_headers.pop("Date"), head_headers.pop("Date")  # the clock moves between the two
    assert (head_status, head_headers, head_body) == (get_status, get_headers, "")
    assert int(get_headers["Content-Length"]) == len(get_body.encode()) > 0


def test_keep_alive_serves_several_requests_on_one_connection(base: str) -> None:
    host, port = base.removeprefix("http://").split(":")
    request = b"GET /el7/x86_64/repodata/repomd.xml HTTP/1.1\r\nHost: h\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request * 3 + request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 4 and data.count(b"<repomd/>") == 4


def test_a_fifo_or_a_swapped_directory_is_not_served(repo: Path, tmp_path: Path) -> None:
    os.mkfifo(repo / "el7" / "x86_64" / "pipe.rpm")  # opening it to read would wait for a writer
    with running(repo) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert get(f"{base}/el7/x86_64/pipe.rpm")[0] == 404
        assert get(f"{base}/el7/x86_64/repodata/repomd.xml") == (200, b"<repomd/>")


def test_ipv6_is_served(repo: Path) -> None:
    try:
        server = make_server(repo, "::1", 0)
    except UsageError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        status, body = get(f"http://[::1]:{port}/el7/pkgrun.repo")
        assert status == 200 and f"baseurl=http://[::1]:{port}/el7/$basearch/" in body.decode()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("bind", "port", "named"),
    [("not an address", 0, "--bind"), ("192.0.2.1", 0, "--bind"), ("127.0.0.1", 70000, "--port")],
)
def test_a_bad_address_is_a_usage_error_naming_the_option(
    repo: Path, bind: str, port: int, named: str
) -> None:
    with pytest.raises(UsageError, match=named):
        make_server(repo, bind, port)


def test_a_port_in_use_is_a_usage_error(repo: Path) -> None:
    with running(repo) as server, pytest.raises(UsageError, match=r"--port .* in use"):
        make_server(repo, "127.0.0.1", server.server_address[1])


def test_head_of_a_bad_path_gets_no_body_and_header_values_may_be_latin_1(base: str) -> None:
    response = raw_request(base, b"HEAD /el7/%zz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert response.startswith("HTTP/1.1 400 ") and response.endswith("\r\n\r\n")
    request = (
        b"GET /el7/x86_64/repodata/repomd.xml HTTP/1.1\r\nUser-Agent: caf\xe9\r\nConnection: close\r\n\r\n"
    )
    response = raw_request(base, request)
    assert response.startswith("HTTP/1.1 200 ") and "\r\nDate: " in response


def test_a_link_inside_to_a_hidden_file_is_not_served_and_absolute_targets_are(repo: Path, base: str) -> None:
    (repo / "el7" / "lock-link").symlink_to(".lock")
    assert get(f"{base}/el7/lock-link")[0] == 404
    request = f"GET {base}/el7/x86_64/repodata/repomd.xml HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    assert raw_request(base, request.encode()).endswith("\r\n\r\n<repomd/>")
