"""Sources: mirrors first, the cache reused, a checksum mismatch deletes the download."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pkgrun.cli import main
from pkgrun.plan import ResolvedSource
from pkgrun.report import NullReporter
from pkgrun.sources import ChecksumMismatch, SourceUnavailable, default_cache_dir, fetch_source

SOURCES = Path(__file__).parent / "recipes" / "sources"
HELLO = SOURCES / "hello-1.0.tar.gz"
HELLO_SHA = hashlib.sha256(HELLO.read_bytes()).hexdigest()


def hello(
    sha256: str = HELLO_SHA, url: str | None = "https://example.invalid/hello-1.0.tar.gz"
) -> ResolvedSource:
    return ResolvedSource("hello-1.0.tar.gz", sha256, url, None)


class Notes(NullReporter):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, recipe: str, message: str) -> None:
        self.notes.append(message)


def test_mirror_directory_then_cache(tmp_path: Path) -> None:
    reporter = Notes()
    path = fetch_source(
        hello(), recipe="hello", cache_dir=tmp_path, mirrors=[str(SOURCES)], env={}, reporter=reporter
    )
    assert path == tmp_path / "sources" / "hello-1.0.tar.gz"
    assert path.read_bytes() == HELLO.read_bytes()
    again = fetch_source(hello(), recipe="hello", cache_dir=tmp_path, mirrors=[], env={}, reporter=reporter)
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
        env={},
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
            env={},
            reporter=NullReporter(),
        )
    assert f"expected sha256 {'1' * 64}, got {HELLO_SHA}" in info.value.message
    assert list((tmp_path / "sources").iterdir()) == []


def test_a_damaged_cached_file_is_fetched_again(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "hello-1.0.tar.gz").write_bytes(b"truncated")
    path = fetch_source(
        hello(), recipe="hello", cache_dir=tmp_path, mirrors=[str(SOURCES)], env={}, reporter=NullReporter()
    )
    assert path.read_bytes() == HELLO.read_bytes()


def test_nowhere_to_fetch_from_names_every_place_tried(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable) as info:
        fetch_source(
            hello(url="file:///nonexistent/hello-1.0.tar.gz"),
            recipe="hello",
            cache_dir=tmp_path,
            mirrors=["/also/not/here"],
            env={},
            reporter=NullReporter(),
        )
    assert info.value.hint is not None
    assert "/also/not/here/hello-1.0.tar.gz" in info.value.hint and "--mirror DIR" in info.value.hint


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PKGRUN_CACHE_DIR": "/c"}, "/c"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/pkgrun"),
        ({"HOME": "/h"}, "/h/.cache/pkgrun"),
    ],
)
def test_cache_dir_follows_xdg(env: dict[str, str], expected: str) -> None:
    assert default_cache_dir(env) == Path(expected)


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
        env={},
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
