"""Reproducible builds, for real: the seed recipes built again in fresh containers give the very
bytes of the packages published before (their signature taken off), and `pkgrun rebuild`
says so of a published package."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import TESTS
from pkgrun.cli import main


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def without_signature(rpm: Path, folder: Path) -> Path:
    """A copy of ``rpm`` with its signature taken off, as it was before signing."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / rpm.name
    shutil.copyfile(rpm, copy)
    subprocess.run(["rpmsign", "--delsign", str(copy)], check=True, capture_output=True)
    return copy


def test_two_clean_builds_of_nginx_and_supervisor_are_byte_identical(
    seed_packages,
    podman: str,
    mirror: Path,
    build_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    argv = ["--recipes", str(TESTS.parent / "recipes"), "build", "nginx", "supervisor", "--target", "local",
            "--engine", podman, "--mirror", str(mirror), "--out", str(out), "--unsigned", "--no-publish",
            "--no-install-test", "--no-lint", "--json"]  # fmt: skip
    assert main(argv, env=build_env) == 0, capsys.readouterr().err
    again = {b["name"]: Path(b["rpm"]) for b in json.loads(capsys.readouterr().out)["built"]}
    for name in ("nginx", "supervisor"):
        first = Path(seed_packages["built"][name]["rpm"])  # signed by the seed build
        unsigned = without_signature(first, tmp_path / "first")
        print(f"{name}: first {sha256(unsigned)} (signed {sha256(first)}), second {sha256(again[name])}")
        assert sha256(unsigned) == sha256(again[name]), f"{name} did not rebuild bit for bit"


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
