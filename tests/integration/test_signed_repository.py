"""Signed packages and metadata as their consumers check them: dnf with gpgcheck and
repo_gpgcheck on, and pkgrun's own install test. A flipped byte is refused by both."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import pkgrun.pipeline.build
from conftest import hello_build, need_tool
from helpers import key_env, make_rpm
from pkgrun.cli.main import main
from pkgrun.repo.publish import SIGNATURE
from pkgrun.run import find_tool
from pkgrun.trust.signing import KEY_FILE


def flip_byte(path: Path, at: int = -20) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(data)


def dnf(
    dist_dir: Path, cache: Path, *command: str, root: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """dnf on this host, reading only the repository at ``dist_dir``, checking what it reads as
    the repository's .repo file says (and failing, not skipping, a repository it cannot trust)."""
    key = (dist_dir / KEY_FILE).resolve().as_uri()
    return subprocess.run(
        ["dnf", "-y", f"--setopt=cachedir={cache}", "--setopt=reposdir=/nonexistent", "--releasever=12",
         f"--repofrompath=t,{(dist_dir / 'x86_64').resolve().as_uri()}", "--repo=t",
         "--setopt=t.gpgcheck=1", "--setopt=t.repo_gpgcheck=1", f"--setopt=t.gpgkey={key}",
         "--setopt=t.skip_if_unavailable=0",
         *([f"--installroot={root}"] if root else []), *command],
        capture_output=True, text=True,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def no_agents_left(tmp_path: Path) -> Iterator[None]:
    """dnf checks signatures with a GnuPG home in its cache, whose agent outlives it: stopped."""
    yield
    for home in tmp_path.glob("*/*/pubring"):
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


@pytest.fixture
def signed_repo(tmp_path: Path) -> Path:
    need_tool("dnf")
    need_tool("gpg")
    rpms = [make_rpm(tmp_path / "rpms", "alpha"), make_rpm(tmp_path / "rpms", "beta", "2.0", "3.local")]
    repo = tmp_path / "repo"
    assert main(["publish", "--repo", str(repo), "--target", "local", *map(str, rpms)], env=key_env()) == 0
    return repo / "local"


def test_dnf_with_gpgcheck_lists_and_installs_what_pkgrun_signed(signed_repo: Path, tmp_path: Path) -> None:
    listed = dnf(signed_repo, tmp_path / "c1", "repoquery", "-q", "--qf", "%{name}-%{version}-%{release}")
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split()) == ["alpha-1.0-1.local", "beta-2.0-3.local"]
    installed = dnf(signed_repo, tmp_path / "c2", "install", "alpha", root=tmp_path / "root")
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "root" / "usr" / "share" / "alpha" / "content").is_file()


def test_dnf_refuses_a_flipped_byte_in_repomd_xml(signed_repo: Path, tmp_path: Path) -> None:
    repomd = signed_repo / "x86_64" / "repodata" / "repomd.xml"
    assert (repomd.parent / SIGNATURE).is_file()
    flip_byte(repomd, repomd.read_bytes().index(b"<revision>") + 10)
    listed = dnf(signed_repo, tmp_path / "cache", "repoquery", "-q")
    assert listed.returncode != 0
    assert "repomd.xml GPG signature verification error" in listed.stderr


def test_dnf_refuses_a_flipped_byte_in_a_package(signed_repo: Path, tmp_path: Path) -> None:
    flip_byte(signed_repo / "x86_64" / "alpha-1.0-1.local.x86_64.rpm")
    installed = dnf(signed_repo, tmp_path / "cache", "install", "alpha", root=tmp_path / "root")
    assert installed.returncode != 0
    assert "incorrect checksum" in installed.stdout + installed.stderr
    assert not (tmp_path / "root" / "usr" / "share" / "alpha").exists()


def test_dnf_refuses_a_changed_package_with_metadata_made_to_match(signed_repo: Path, tmp_path: Path) -> None:
    """One who can write to the repository but has no key: a package changed and the metadata
    made again to match it no longer carry pkgrun's signature, and dnf says so."""
    flip_byte(signed_repo / "x86_64" / "alpha-1.0-1.local.x86_64.rpm")
    subprocess.run(
        [find_tool("createrepo_c"), "--update", str(signed_repo / "x86_64")], check=True, capture_output=True
    )
    listed = dnf(signed_repo, tmp_path / "cache", "repoquery", "-q")
    assert listed.returncode != 0 and "GPG signature verification error" in listed.stderr


@pytest.mark.parametrize("tamper", ["flipped byte", "unsigned"])
def test_the_install_test_installs_only_what_verifies(
    podman: str,
    build_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tamper: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A package changed after it was signed, or not signed at all, fails the install test."""
    real_sign = pkgrun.pipeline.build.sign_rpms

    def sign_then_tamper(key, rpms):  # type: ignore[no-untyped-def]
        if tamper == "unsigned":
            return []
        signed = real_sign(key, rpms)
        flip_byte(rpms[0])
        return signed

    monkeypatch.setattr(pkgrun.pipeline.build, "sign_rpms", sign_then_tamper)
    recipes = Path(__file__).resolve().parent.parent / "recipes" / "good"
    code = main(hello_build(recipes, tmp_path / "out", "--engine", podman, "--no-publish"), env=build_env)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "step: verify the signatures" in err
    assert "no valid signature by key" in err
