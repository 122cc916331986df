"""pkgrun serve: the repository's files over HTTP, a .repo file that points at the server, and
nothing from outside the repository, whatever a client sends."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkgrun.errors import UsageError
from pkgrun.serve import make_server


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


def serving(repo: Path, base_url: str | None = None) -> Iterator[str]:
    server = make_server(repo, "127.0.0.1", 0, base_url)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def base(repo: Path) -> Iterator[str]:
    yield from serving(repo)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def raw_request(base: str, request: bytes) -> str:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
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
    assert response.startswith("HTTP/1.0 404"), response[:200]
    assert "host file" not in response and "pid 1" not in response


@pytest.mark.parametrize(
    "host",
    [
        "evil.example\r\n [pkgrun-evil]\r\n baseurl=http://evil.example",  # header folding
        "evil.example/x\nbaseurl=http://evil.example",
        "evil.example:80 gpgcheck=0",
        "",
    ],
)
def test_a_host_header_never_writes_lines_into_the_repo_file(base: str, host: str) -> None:
    request = f"GET /el7/pkgrun.repo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    response = raw_request(base, request.encode())
    body = response.split("\r\n\r\n", 1)[1]
    assert "evil" not in body
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
