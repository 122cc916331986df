"""Reproducible builds, for real: the seed recipes built twice in fresh containers give the same
bytes, the same header and payload as the signed packages published before, and `pkgrun rebuild`
says so of a published package."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from conftest import TESTS
from pkgrun.cli.main import main
from pkgrun.rpm.header import content_digest


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
    """Compiled twice more (--recompile), unsigned, each time in fresh containers: the same
    bytes, though the second compile found every object in ccache (its volume empty before the
    first). And the same header and payload as the signed packages the seed build published:
    signing added only its signature (and rewrote the obsolete 96-byte lead)."""
    prefix = f"pkgrun-test-{secrets.token_hex(4)}"
    config = tmp_path / "pkgrun.toml"
    config.write_text(f'[cache]\nccache-volume = "{prefix}"\n')
    builds = []
    try:
        for run in ("one", "two"):
            argv = ["--recipes", str(TESTS.parent / "recipes"), "--config", str(config), "build", "nginx",
                    "supervisor", "--target", "local", "--engine", podman, "--mirror", str(mirror), "--out",
                    str(tmp_path / run), "--unsigned", "--no-publish", "--no-install-test", "--no-lint",
                    "--recompile", "--json"]  # fmt: skip
            assert main(argv, env=build_env) == 0, capsys.readouterr().err
            builds.append({b["name"]: Path(b["rpm"]) for b in json.loads(capsys.readouterr().out)["built"]})
    finally:
        volumes = [f"{prefix}-local-nginx", f"{prefix}-local-supervisor"]
        subprocess.run([podman, "volume", "rm", "--force", *volumes], capture_output=True, check=False)
    logs = sorted((tmp_path / "state" / "pkgrun" / "logs").glob("nginx-1.22.1-2.local-*.log"))
    hits = [int(re.findall(r"Hits:\s+(\d+)", log.read_text())[0]) for log in logs]
    assert hits[0] == 0 and hits[1] > 100, hits  # cold, then warm: nginx has about 150 objects
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
