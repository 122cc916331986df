"""Signing: the argv pkgrun builds for gpg and rpmsign, and what a publish leaves for clients to
check, with the real gpg, rpmsign and rpm on this host (a throwaway key, helpers.session_key)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from helpers import key_env, make_rpm, session_key
from pkgrun.cli import main
from pkgrun.repo import SIGNATURE, repo_file_text
from pkgrun.rpmheader import content_digest
from pkgrun.signing import (
    KEY_FILE,
    SigningKey,
    detach_sign_argv,
    generate_argv,
    rpmsign_argv,
    sign_rpms,
    signed_by,
)

REQUIRED = os.environ.get("PKGRUN_REQUIRE_INTEGRATION") == "1"


@pytest.fixture(autouse=True)
def host_tools() -> None:
    for tool in ("gpg", "rpmsign", "rpm"):
        if shutil.which(tool) is None:
            if REQUIRED:
                pytest.fail(f"PKGRUN_REQUIRE_INTEGRATION=1 but {tool} is not installed")
            pytest.skip(f"{tool} is not installed")


KEY = SigningKey("0123456789ABCDEF0123456789ABCDEF01234567", Path("/k"))


def test_rpmsign_argv() -> None:
    assert rpmsign_argv(KEY, [Path("/o/a.rpm"), Path("/o/b.rpm")], "/usr/bin/gpg") == [
        "rpmsign", "--addsign", "--rpmv3",
        "--define", "__gpg /usr/bin/gpg",
        "--define", "_gpg_name 0123456789ABCDEF0123456789ABCDEF01234567",
        "--define", "_gpg_digest_algo sha256",
        "/o/a.rpm", "/o/b.rpm",
    ]  # fmt: skip
    assert KEY.key_id == "89abcdef01234567" and KEY.env() == {"GNUPGHOME": "/k"}


def test_detached_signature_and_key_generation_argv() -> None:
    assert detach_sign_argv(KEY, Path("/r/repomd.xml"), Path("/r/repomd.xml.asc")) == [
        "gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "",
        "--local-user", KEY.fingerprint, "--digest-algo", "SHA256",
        "--armor", "--detach-sign", "--output", "/r/repomd.xml.asc", "/r/repomd.xml",
    ]  # fmt: skip
    assert generate_argv("me <me@x.invalid>")[-4:] == ["me <me@x.invalid>", "rsa4096", "sign", "never"]


def test_the_repo_file_checks_packages_and_metadata_only_when_signed() -> None:
    signed = repo_file_text("el7", "https://repo.example.org/pkgrun/", signed=True)
    assert (
        "gpgcheck=1\nrepo_gpgcheck=1\ngpgkey=https://repo.example.org/pkgrun/el7/RPM-GPG-KEY-pkgrun\n"
        in signed
    )
    unsigned = repo_file_text("el7", "https://repo.example.org/pkgrun", signed=False)
    assert "gpgcheck=0\nrepo_gpgcheck=0\n" in unsigned and "gpgkey" not in unsigned


def test_signing_is_idempotent_and_leaves_the_content_alone(tmp_path: Path) -> None:
    key = session_key()
    rpm = make_rpm(tmp_path, "alpha")
    before = content_digest(rpm)
    assert signed_by([rpm]) == {rpm: None}
    assert sign_rpms(key, [rpm]) == [rpm]
    assert signed_by([rpm]) == {rpm: key.key_id}
    assert content_digest(rpm) == before  # only the signature header changed
    signed_once = rpm.read_bytes()
    assert sign_rpms(key, [rpm]) == []  # already signed with this key: untouched
    assert rpm.read_bytes() == signed_once


def rpm_checks(rpm: Path, key_file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """rpm -Kv with only ``key_file`` imported, as a server that trusts the repository's key."""
    db = tmp_path / "rpmdb"
    if not db.exists():
        db.mkdir()
        subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(key_file)], check=True)
    return subprocess.run(["rpm", "--dbpath", str(db), "-Kv", str(rpm)], capture_output=True, text=True)


def test_a_publish_signs_packages_and_metadata_and_publishes_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = session_key()
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    repo = tmp_path / "repo"
    assert main(["publish", "--repo", str(repo), "--target", "local", str(rpm)], env=key_env()) == 0
    dist = repo / "local"
    published = dist / "x86_64" / rpm.name
    checked = rpm_checks(published, dist / KEY_FILE, tmp_path)
    assert checked.returncode == 0 and f"key ID {key.key_id[-8:]}: OK" in checked.stdout
    repomd = dist / "x86_64" / "repodata" / "repomd.xml"
    verify = ["gpg", "--batch", "--verify", str(repomd.with_name(SIGNATURE)), str(repomd)]
    assert subprocess.run(verify, env={**os.environ, **key.env()}, capture_output=True).returncode == 0
    assert "gpgcheck=1\nrepo_gpgcheck=1\n" in (dist / "pkgrun.repo").read_text()

    # a byte of the package flipped: rpm refuses it
    tampered = tmp_path / "tampered.rpm"
    data = bytearray(published.read_bytes())
    data[-20] ^= 0xFF
    tampered.write_bytes(data)
    checked = rpm_checks(tampered, dist / KEY_FILE, tmp_path)
    assert checked.returncode != 0 and "BAD" in checked.stdout


def test_unsigned_publishing_is_explicit_and_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    repo = tmp_path / "repo"
    env = {"HOME": str(tmp_path)}  # no key anywhere
    assert main(["publish", "--repo", str(repo), "--target", "local", str(rpm)], env=env) == 2
    err = capsys.readouterr().err
    assert "no signing key" in err and "pkgrun key init" in err and "--unsigned" in err
    assert not repo.exists()

    assert main(["publish", "--unsigned", "--repo", str(repo), "--target", "local", str(rpm)], env=env) == 0
    assert "publishing UNSIGNED packages" in capsys.readouterr().err
    dist = repo / "local"
    assert "gpgcheck=0\nrepo_gpgcheck=0\n" in (dist / "pkgrun.repo").read_text()
    assert not (dist / "x86_64" / "repodata" / SIGNATURE).exists() and not (dist / KEY_FILE).exists()
    assert signed_by([dist / "x86_64" / rpm.name]) == {dist / "x86_64" / rpm.name: None}

    # signing the repository afterwards signs what it holds, once
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local", "--json"], env=key_env()) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["signed"] == [str(dist / "x86_64" / rpm.name)]
    assert signed_by([dist / "x86_64" / rpm.name])[dist / "x86_64" / rpm.name] == session_key().key_id
    assert (dist / "x86_64" / "repodata" / SIGNATURE).is_file() and (dist / KEY_FILE).is_file()
    assert "gpgcheck=1" in (dist / "pkgrun.repo").read_text()
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local", "--json"], env=key_env()) == 0
    assert json.loads(capsys.readouterr().out)["signed"] == []


def test_key_init_makes_one_private_key_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    home = tmp_path / "state" / "pkgrun" / "gnupg"
    try:
        assert main(["key", "show"], env=env) == 2
        assert "pkgrun key init" in capsys.readouterr().err
        assert main(["key", "init", "--user-id", "ops <ops@example.invalid>", "--json"], env=env) == 0
        made = json.loads(capsys.readouterr().out)
        assert made["gnupg_home"] == str(home)
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert "BEGIN PGP PUBLIC KEY BLOCK" in made["public_key"]
        assert main(["key", "init", "--json"], env=env) == 0  # there is one: kept
        assert json.loads(capsys.readouterr().out)["fingerprint"] == made["fingerprint"]
        assert main(["key", "show", "--json"], env=env) == 0
        assert json.loads(capsys.readouterr().out)["fingerprint"] == made["fingerprint"]
        # and publishing finds it without being told
        rpm = make_rpm(tmp_path / "rpms", "alpha")
        assert (
            main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=env) == 0
        )
        published = tmp_path / "repo" / "local" / "x86_64" / rpm.name
        assert signed_by([published])[published] == made["fingerprint"][-16:].lower()
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)})


def test_a_named_key_that_is_not_there_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    env = {**key_env(), "PKGRUN_SIGN_KEY": "nobody@example.invalid"}
    assert main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=env) == 2
    assert "no secret key 'nobody@example.invalid'" in capsys.readouterr().err
