"""Reproducible builds, for real: the seed recipes built twice in fresh containers give the same
bytes, the same header and payload as the signed packages published before, and `pkgrun rebuild`
says so of a published package."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import TESTS
from pkgrun.cli import main
from pkgrun.rpmheader import content_digest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_clean_builds_of_nginx_and_supervisor_are_byte_identical(
    seed_packages,
    podman: str,
    mirror: Path,
    build_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Built twice more, unsigned, each time in fresh containers: the same bytes. And the same
    header and payload as the signed packages the seed build published: signing added only its
    signature (and rewrote the obsolete 96-byte lead)."""
    builds = []
    for run in ("one", "two"):
        argv = ["--recipes", str(TESTS.parent / "recipes"), "build", "nginx", "supervisor",
                "--target", "local", "--engine", podman, "--mirror", str(mirror), "--out",
                str(tmp_path / run), "--unsigned", "--no-publish", "--no-install-test", "--no-lint",
                "--json"]  # fmt: skip
        assert main(argv, env=build_env) == 0, capsys.readouterr().err
        builds.append({b["name"]: Path(b["rpm"]) for b in json.loads(capsys.readouterr().out)["built"]})
    one, two = builds
    for name in ("nginx", "supervisor"):
        signed = Path(seed_packages["built"][name]["rpm"])
        print(f"{name}: {sha256(one[name])} {sha256(two[name])} (signed: {sha256(signed)})")
        assert sha256(one[name]) == sha256(two[name]), f"{name} did not rebuild bit for bit"
        assert content_digest(one[name]) == content_digest(signed)


def test_rebuild_says_the_published_supervisor_is_what_its_recipe_makes(
    seed_packages, podman: str, mirror: Path, build_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = str(seed_packages["repo"])
    argv = ["--recipes", str(TESTS.parent / "recipes"), "rebuild", "supervisor", "--target", "local",
            "--engine", podman, "--mirror", str(mirror), "--repo", repo, "--json"]  # fmt: skip
    assert main(argv, env=build_env) == 0, capsys.readouterr().err
    (verdict,) = json.loads(capsys.readouterr().out)
    assert verdict["identical"] is True
    assert Path(verdict["published"]).parent.parent == Path(str(seed_packages["repo"])) / "local"
