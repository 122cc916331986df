"""Publishing never writes outside the repository, whatever an RPM's header says: a crafted
name, version, release or arch is refused (exit 2) before anything is written, and no link
planted in the repository makes pkgrun write through it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import key_env, make_rpm, require_tools
from pkgrun.cli.main import main
from pkgrun.rpm.header import content_digest
from pkgrun.run import find_tool


@pytest.fixture(autouse=True)
def host_tools() -> None:
    require_tools("gpg", "rpm", "rpmsign")


def crafted_rpm(path: Path, **fields: str) -> Path:
    """An RPM whose header holds ``fields`` as given, made with nfpm (which checks none of them)."""
    content = path.parent / "content"
    content.write_text("payload\n")
    config = {
        "name": "innocent",
        "arch": "x86_64",
        "version": "1.0",
        "release": "1",
        "version_schema": "none",
        "maintainer": "tests",
        "description": "crafted",
        "license": "MIT",
        "contents": [{"src": str(content), "dst": "/usr/share/innocent/content"}],
        **fields,
    }
    (path.parent / "nfpm.json").write_text(json.dumps(config))
    subprocess.run(
        [find_tool("nfpm"), "package", "--config", str(path.parent / "nfpm.json"), "--packager", "rpm",
         "--target", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "../../../x"},
        {"name": "../../escape"},
        {"name": ".hidden"},
        {"arch": "../../victim"},
        {"arch": ".."},
        {"version": "1.0/../../../../x"},
        {"release": "1/../../../y"},
        {"name": "a\nb"},
        {"name": "-rf"},
    ],
    ids=lambda f: next(iter(f.items()))[0] + "=" + repr(next(iter(f.values()))),
)
def test_a_crafted_header_is_refused_before_anything_is_written(
    tmp_path: Path, fields: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    rpm = crafted_rpm(work / "crafted.rpm", **fields)
    repo = work / "repo"
    before = tree(tmp_path)

    code = main(["publish", "--repo", str(repo), "--target", "local", str(rpm)], env=key_env())

    err = capsys.readouterr().err
    assert code == 2, err
    assert "is refused: its header's" in err
    assert "nothing was written" in err
    assert tree(tmp_path) == before  # not a file, not a directory, not even the repository


def test_a_good_rpm_beside_a_crafted_one_is_not_published_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_rpm(tmp_path / "rpms", "good")
    bad = crafted_rpm(tmp_path / "rpms" / "bad.rpm", arch="../../victim")
    code = main(
        ["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(good), str(bad)], env=key_env()
    )
    assert code == 2
    assert not (tmp_path / "repo").exists()


def test_a_file_that_is_not_an_rpm_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "fake.rpm"
    fake.write_bytes(b"\xed\xab\xee\xdb" + os.urandom(200))
    assert (
        main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(fake)], env=key_env())
        == 2
    )
    assert "is not a readable RPM" in capsys.readouterr().err


def test_a_symlinked_architecture_directory_is_not_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "repo" / "local").mkdir(parents=True)
    (tmp_path / "repo" / "local" / "x86_64").symlink_to(outside)
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    assert (
        main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=key_env()) == 2
    )
    assert "outside" in capsys.readouterr().err
    assert list(outside.iterdir()) == []


def test_a_planted_lock_link_is_not_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "repo" / "local").mkdir(parents=True)
    (tmp_path / "repo" / "local" / ".lock").symlink_to(victim)
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    assert (
        main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=key_env()) == 1
    )
    assert "is a symlink; pkgrun does not write through links" in capsys.readouterr().err
    assert victim.read_text() == "precious\n"


def test_a_planted_temporary_file_link_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    arch_dir = tmp_path / "repo" / "local" / "x86_64"
    arch_dir.mkdir(parents=True)
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    (arch_dir / f".{rpm.name}.{os.getpid()}.tmp").symlink_to(victim)
    (tmp_path / "repo" / "local" / f".pkgrun.repo.{os.getpid()}.tmp").symlink_to(victim)
    assert (
        main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=key_env()) == 0
    )
    assert victim.read_text() == "precious\n"
    assert content_digest(arch_dir / rpm.name) == content_digest(rpm)  # the package, signed
