"""Sources: mirrors first, the cache reused, a checksum mismatch deletes the download."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers import Notes
from pkgrun.build.plan import ResolvedSource
from pkgrun.build.sources import ChecksumMismatch, SourceUnavailable, fetch_source, source_date_epoch
from pkgrun.cli.main import main
from pkgrun.report import NullReporter

SOURCES = Path(__file__).parent / "recipes" / "sources"
HELLO = SOURCES / "hello-1.0.tar.gz"
HELLO_SHA = hashlib.sha256(HELLO.read_bytes()).hexdigest()


def hello(
    sha256: str = HELLO_SHA, url: str | None = "https://example.invalid/hello-1.0.tar.gz"
) -> ResolvedSource:
    return ResolvedSource("hello-1.0.tar.gz", sha256, url, None)


def test_mirror_directory_then_cache(tmp_path: Path) -> None:
    reporter = Notes()
    path = fetch_source(
        hello(), recipe="hello", cache_dir=tmp_path, mirrors=[str(SOURCES)], reporter=reporter
    )
    assert path == tmp_path / "sources" / "hello-1.0.tar.gz"
    assert path.read_bytes() == HELLO.read_bytes()
    again = fetch_source(hello(), recipe="hello", cache_dir=tmp_path, mirrors=[], reporter=reporter)
    assert again == path
    assert reporter.notes == [
        f"source hello-1.0.tar.gz: fetched from {HELLO}, sha256 verified",
        "source hello-1.0.tar.gz: cached, sha256 verified",
    ]


def test_mirror_url(tmp_path: Path) -> None:
    mirror = SOURCES.resolve().as_uri()  # file:// works like http://
    path = fetch_source(
        hello(),
        recipe="hello",
        cache_dir=tmp_path,
        mirrors=["/nonexistent", mirror],
        reporter=NullReporter(),
    )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == HELLO_SHA


def test_checksum_mismatch_deletes_the_download(tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatch) as info:
        fetch_source(
            hello("1" * 64),
            recipe="hello",
            cache_dir=tmp_path,
            mirrors=[str(SOURCES)],
            reporter=NullReporter(),
        )
    assert f"expected sha256 {'1' * 64}, got {HELLO_SHA}" in info.value.message
    assert list((tmp_path / "sources").iterdir()) == []


def test_a_damaged_cached_file_is_fetched_again(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "hello-1.0.tar.gz").write_bytes(b"truncated")
    path = fetch_source(
        hello(), recipe="hello", cache_dir=tmp_path, mirrors=[str(SOURCES)], reporter=NullReporter()
    )
    assert path.read_bytes() == HELLO.read_bytes()


def test_nowhere_to_fetch_from_names_every_place_tried(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable) as info:
        fetch_source(
            hello(url="file:///nonexistent/hello-1.0.tar.gz"),
            recipe="hello",
            cache_dir=tmp_path,
            mirrors=["/also/not/here"],
            reporter=NullReporter(),
        )
    assert info.value.hint is not None
    assert "/also/not/here/hello-1.0.tar.gz" in info.value.hint and "--mirror DIR" in info.value.hint


def test_pkgrun_fetch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipes = Path(__file__).parent / "recipes" / "good"
    code = main(
        [
            "--recipes",
            str(recipes),
            "fetch",
            "--mirror",
            str(SOURCES),
            "--cache-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "name": "hello",
            "version": "1.0",
            "file": str(tmp_path / "sources" / "hello-1.0.tar.gz"),
            "sha256": HELLO_SHA,
            "size": HELLO.stat().st_size,
        }
    ]


# --- the download boundary: a size limit, and nothing half-done left in the cache -----------------


def test_a_source_over_the_limit_is_refused_and_removed(tmp_path: Path) -> None:
    from pkgrun.build.sources import TooLarge

    with pytest.raises(TooLarge, match="larger than the download limit"):
        fetch_source(
            hello(),
            recipe="hello",
            cache_dir=tmp_path,
            mirrors=[str(SOURCES)],
            max_bytes=100,
            reporter=NullReporter(),
        )
    assert list((tmp_path / "sources").iterdir()) == []


def test_a_server_that_sends_more_than_it_announced_is_cut_off(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from pkgrun.build.sources import TooLarge

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            if "announced" in self.path:
                self.send_header("Content-Length", str(10 << 20))
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for path in ("announced", "streamed"):
            url = f"http://127.0.0.1:{server.server_address[1]}/{path}"
            with pytest.raises(TooLarge):
                fetch_source(
                    hello(),
                    recipe="hello",
                    cache_dir=tmp_path,
                    mirrors=[url],
                    max_bytes=1 << 20,
                    reporter=NullReporter(),
                )
            assert list((tmp_path / "sources").iterdir()) == []
    finally:
        server.shutdown()
        server.server_close()


def test_an_interrupted_download_leaves_nothing(tmp_path: Path) -> None:
    class Interrupt(NullReporter):
        def progress(self, recipe: str, name: str, total: int | None):  # type: ignore[no-untyped-def]
            def advance(n: int) -> None:
                raise KeyboardInterrupt

            return advance

    with pytest.raises(KeyboardInterrupt):
        fetch_source(
            hello(),
            recipe="hello",
            cache_dir=tmp_path,
            mirrors=[SOURCES.resolve().as_uri()],
            reporter=Interrupt(),
        )
    assert list((tmp_path / "sources").iterdir()) == []


def tarball(path: Path, mtime: int) -> str:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("demo/README")
        info.size, info.mtime = 3, mtime
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_source_date_is_the_newest_file_and_belongs_to_that_source(tmp_path: Path) -> None:
    archive = tmp_path / "demo-1.0.tar.gz"
    first = tarball(archive, 1_600_000_000)
    assert source_date_epoch(archive, first) == 1_600_000_000
    assert (tmp_path / "demo-1.0.tar.gz.date-epoch").read_text() == f"{first} 1600000000"
    # another file under the same name (the recipe's checksum changed): its own date
    second = tarball(archive, 1_700_000_000)
    assert source_date_epoch(archive, second) == 1_700_000_000
    # a date past what an RPM header holds is held at its largest
    third = tarball(archive, 2**33)
    assert source_date_epoch(archive, third) == 2**32 - 1


def test_a_pypi_source_comes_through_pip_s_index(tmp_path: Path) -> None:
    """A simple-API index (pip's index-url) served over HTTP."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    project = tmp_path / "index" / "hello"
    project.mkdir(parents=True)
    (project / "hello-1.0.tar.gz").write_bytes(HELLO.read_bytes())
    (project / "index.html").write_text(
        f'<a href="hello-1.0.tar.gz#sha256={HELLO_SHA}">hello-1.0.tar.gz</a>\n'
    )
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "index"))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            path = fetch_source(
                ResolvedSource("hello-1.0.tar.gz", HELLO_SHA, None, "hello"),
                recipe="hello",
                cache_dir=tmp_path / "cache",
                mirrors=[],
                reporter=Notes(),
                pip={"PIP_INDEX_URL": f"http://127.0.0.1:{server.server_port}/"},
            )
        finally:
            server.shutdown()
    assert path.read_bytes() == HELLO.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["hello-1.0.tar.gz"]  # no part file left
