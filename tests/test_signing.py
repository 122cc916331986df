"""Signing: the argv pkgrun builds for gpg and rpmsign, and what a publish leaves for clients to
check, with the real gpg, rpmsign and rpm on this host (a throwaway key, helpers.session_key)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import key_env, make_rpm, session_key, state_env
from pkgrun.cli.main import main
from pkgrun.repo.layout import repo_file_text
from pkgrun.repo.publish import SIGNATURE
from pkgrun.rpm.header import content_digest
from pkgrun.trust.signing import (
    KEY_FILE,
    SOCKET_PATH_MAX,
    SigningFailed,
    SigningKey,
    detach_sign_argv,
    find_secret_key,
    fit_sockets,
    generate_argv,
    rpmsign_argv,
    sign_rpms,
    signed_by,
    socket_dir,
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
        "--define", "_gpg_sign_cmd_extra_args --batch --pinentry-mode error",
        "/o/a.rpm", "/o/b.rpm",
    ]  # fmt: skip
    assert KEY.key_id == "89abcdef01234567" and KEY.env() == {"GNUPGHOME": "/k"}


def test_detached_signature_and_key_generation_argv() -> None:
    assert detach_sign_argv(KEY, Path("/r/repomd.xml"), Path("/r/repomd.xml.asc")) == [
        "gpg", "--batch", "--yes", "--pinentry-mode", "error",
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
    assert key.made(signed_by([rpm])[rpm])
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
    env = {"HOME": str(tmp_path), **state_env()}  # no key anywhere
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
    assert session_key().made(signed_by([dist / "x86_64" / rpm.name])[dist / "x86_64" / rpm.name])
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


def test_a_state_directory_too_deep_for_gpg_agent_s_sockets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deep $HOME (a CI runner's work directory): gpg's own sockets would not fit a Unix socket's
    path there, and gpg fails with "failed to start agent". pkgrun's key is made, found, and
    signs a publish all the same."""
    state = tmp_path / ("deep-" * 14) / "state"
    home = state / "pkgrun" / "gnupg"
    assert len(os.fsencode(home / "S.gpg-agent.browser")) > SOCKET_PATH_MAX
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(state)}
    try:
        assert main(["key", "init", "--json"], env=env) == 0, capsys.readouterr().err
        made = json.loads(capsys.readouterr().out)
        assert main(["key", "show", "--json"], env=env) == 0
        assert json.loads(capsys.readouterr().out)["fingerprint"] == made["fingerprint"]
        rpm = make_rpm(tmp_path / "rpms", "alpha")
        repo = tmp_path / "repo"
        assert main(["publish", "--repo", str(repo), "--target", "local", str(rpm)], env=env) == 0
        published = repo / "local" / "x86_64" / rpm.name
        assert signed_by([published])[published] == made["fingerprint"][-16:].lower()
        if not Path(f"/run/user/{os.getuid()}").is_dir():  # else gpg's sockets are there
            sockets = socket_dir(home)
            assert stat.S_IMODE(sockets.stat().st_mode) == 0o700
            assert (home / "S.gpg-agent").read_text() == f"%Assuan%\nsocket={sockets / 'S.gpg-agent'}\n"
            assert stat.S_ISSOCK((sockets / "S.gpg-agent").stat().st_mode)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)})
        shutil.rmtree(socket_dir(home), ignore_errors=True)


def test_a_socket_directory_someone_else_made_first_is_not_used(tmp_path: Path) -> None:
    """The sockets' directory is in the temporary directory, where anyone can make it first: then
    the sockets go to a new private one, and the redirect files name it."""
    home = tmp_path / ("deep-" * 14) / "gnupg"
    home.mkdir(parents=True)
    taken = socket_dir(home)
    taken.mkdir(mode=0o700)
    used = None
    try:
        os.chmod(taken, 0o777)  # made by someone else beforehand, to catch the agent's sockets
        fit_sockets(home, run_user=tmp_path / "no-run-user")
        text = (home / "S.gpg-agent").read_text()
        assert text.startswith("%Assuan%\nsocket=") and str(taken) not in text
        used = Path(text.splitlines()[1].removeprefix("socket=")).parent
        assert stat.S_IMODE(used.stat().st_mode) == 0o700 and used.owner() == taken.owner()
        fit_sockets(home, run_user=tmp_path / "no-run-user")  # the next run keeps that one
        assert (home / "S.gpg-agent").read_text() == text
    finally:
        taken.rmdir()
        if used is not None:
            used.rmdir()


def test_a_configured_gnupg_home_too_deep_for_sockets_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's own deep GnuPG home is not pkgrun's to change: gpg fails there, and pkgrun says
    why instead of "no secret key"."""
    from pkgrun.trust import signing

    home = tmp_path / ("deep-" * 14) / "gnupg"
    home.mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(signing, "_too_deep", lambda home, run_user=None: True)  # as without /run/user
    monkeypatch.setattr(signing, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 2, "", ""))
    with pytest.raises(SigningFailed, match="longer than a Unix socket's 107 bytes"):
        signing.resolve_key("ABCDEF", home, tmp_path / "state")


def test_a_named_key_that_is_not_there_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    env = {**key_env(), "PKGRUN_SIGN_KEY": "nobody@example.invalid"}
    assert main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=env) == 2
    assert "no secret key 'nobody@example.invalid'" in capsys.readouterr().err


def test_a_signed_publish_into_an_unsigned_repository_signs_what_is_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The .repo file then asks for the key's signature on every package: every package has it."""
    repo = tmp_path / "repo"
    old = make_rpm(tmp_path / "rpms", "alpha")
    env = {"HOME": str(tmp_path), **state_env()}
    assert main(["publish", "--unsigned", "--repo", str(repo), "--target", "local", str(old)], env=env) == 0
    new = make_rpm(tmp_path / "rpms", "beta")
    capsys.readouterr()
    assert main(["publish", "--repo", str(repo), "--target", "local", "--json", str(new)], env=key_env()) == 0
    arch_dir = repo / "local" / "x86_64"
    assert json.loads(capsys.readouterr().out)["signed"] == [str(arch_dir / old.name)]
    assert all(session_key().made(s) for s in signed_by([arch_dir / old.name, arch_dir / new.name]).values())
    # and the next publish has nothing more to sign
    assert main(["publish", "--repo", str(repo), "--target", "local", "--json", str(new)], env=key_env()) == 0
    assert json.loads(capsys.readouterr().out)["signed"] == []


def gpg(home: Path, *argv: str) -> None:
    subprocess.run(
        ["gpg", "--batch", *argv], env={**os.environ, "GNUPGHOME": str(home)}, check=True, capture_output=True
    )


@pytest.fixture
def gnupg_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    yield home
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)})


def test_a_key_that_signs_with_a_subkey(
    tmp_path: Path, gnupg_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An organisation's key: a primary key that only certifies, and a subkey that signs."""
    primary = org_key(gnupg_home, "cert")
    key = find_secret_key(gnupg_home, "org@example.invalid")
    assert key is not None and key.fingerprint == primary and len(key.signing_fingerprints) == 1
    subkey_id = key.signing_fingerprints[0][-16:].lower()
    assert key.signer_ids == {subkey_id} and key.key_id != subkey_id

    rpm = make_rpm(tmp_path / "rpms", "alpha")
    repo = tmp_path / "repo"
    env = {"GNUPGHOME": str(gnupg_home), "PKGRUN_SIGN_KEY": "org@example.invalid", **state_env()}
    argv = ["publish", "--repo", str(repo), "--target", "local", "--json", str(rpm)]
    assert main(argv, env=env) == 0
    assert [p["action"] for p in json.loads(capsys.readouterr().out)["published"]] == ["added"]
    published = repo / "local" / "x86_64" / rpm.name
    assert signed_by([published]) == {published: subkey_id}
    signed_once = published.read_bytes()
    assert main(argv, env=env) == 0  # the same package, signed with this key: left alone
    assert [p["action"] for p in json.loads(capsys.readouterr().out)["published"]] == ["unchanged"]
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local", "--json"], env=env) == 0
    assert json.loads(capsys.readouterr().out)["signed"] == []
    assert published.read_bytes() == signed_once


def org_key(home: Path, primary_can: str) -> str:
    """A key as organisations make them: a primary key that can ``primary_can`` ("cert" or
    "sign") and a newer subkey that signs; its primary fingerprint."""
    no_passphrase = ("--pinentry-mode", "loopback", "--passphrase", "")
    gpg(
        home,
        *no_passphrase,
        "--quick-generate-key",
        "org <org@example.invalid>",
        "rsa2048",
        primary_can,
        "never",
    )
    (primary,) = secret_keys_of(home, with_subkeys=False)
    gpg(home, *no_passphrase, "--quick-add-key", primary, "rsa2048", "sign", "never")
    return primary


def secret_keys_of(home: Path, with_subkeys: bool) -> list[str]:
    out = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env={**os.environ, "GNUPGHOME": str(home)}, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    fingerprints, kind = [], ""
    for line in out:
        fields = line.split(":")
        if fields[0] in ("sec", "ssb"):
            kind = fields[0]
        elif fields[0] == "fpr" and (kind == "sec" or with_subkeys):
            fingerprints.append(fields[9])
    return fingerprints


def test_a_key_gpg_cannot_use_unattended_stops_before_any_work(
    tmp_path: Path, gnupg_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpg(gnupg_home, "--pinentry-mode", "loopback", "--passphrase", "secret", "--quick-generate-key",
        "locked <locked@example.invalid>", "rsa2048", "sign", "never")  # fmt: skip
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(gnupg_home)})
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    env = {"GNUPGHOME": str(gnupg_home), "PKGRUN_SIGN_KEY": "locked@example.invalid"}
    assert main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=env) == 1
    err = capsys.readouterr().err
    assert "gpg cannot sign with key" in err and "gpg-preset-passphrase" in err
    assert not (tmp_path / "repo").exists()


def test_two_keys_and_none_named_is_a_question_not_a_guess(tmp_path: Path, gnupg_home: Path, capsys) -> None:
    for who in ("one", "two"):
        gpg(gnupg_home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key",
            f"{who} <ops@example.invalid>", "rsa2048", "sign", "never")  # fmt: skip
    rpm = make_rpm(tmp_path / "rpms", "alpha")
    env = {"GNUPGHOME": str(gnupg_home), "PKGRUN_SIGN_KEY": "ops@example.invalid", **state_env()}
    assert main(["publish", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)], env=env) == 2
    assert "'ops@example.invalid' names 2 secret keys that can sign" in capsys.readouterr().err


def test_signed_unsigned_signed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unsigned publish cannot slip into a signed repository; made unsigned on purpose
    (--force), the next signed publish signs everything again."""
    repo = tmp_path / "repo"
    dist = repo / "local"
    alpha, beta, gamma = (make_rpm(tmp_path / "rpms", name) for name in ("alpha", "beta", "gamma"))
    publish = ["publish", "--repo", str(repo), "--target", "local"]
    assert main([*publish, str(alpha)], env=key_env()) == 0
    assert main([*publish, "--unsigned", str(beta)], env={"HOME": str(tmp_path), **state_env()}) == 2
    assert "is signed: its servers check signatures" in capsys.readouterr().err
    assert not (dist / "x86_64" / beta.name).exists()

    assert (
        main([*publish, "--unsigned", "--force", str(beta)], env={"HOME": str(tmp_path), **state_env()}) == 0
    )
    assert "gpgcheck=0" in (dist / "pkgrun.repo").read_text()
    assert not (dist / KEY_FILE).exists() and not list(dist.glob(f"*/repodata/{SIGNATURE}"))

    assert main([*publish, str(gamma)], env=key_env()) == 0
    packages = sorted((dist / "x86_64").glob("*.rpm"))
    assert len(packages) == 3
    assert all(session_key().made(signer) for signer in signed_by(packages).values())
    assert "gpgcheck=1" in (dist / "pkgrun.repo").read_text() and (dist / KEY_FILE).is_file()


def test_repo_sign_needs_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["repo", "sign", "--repo", str(tmp_path / "typo"), "--target", "el8"], env=key_env()) == 2
    assert "no repository at" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_key_init_with_a_configured_key_checks_it_and_makes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**key_env(), "XDG_STATE_HOME": str(tmp_path / "state")}
    assert main(["key", "init"], env=env) == 0
    assert f"using the configured signing key {session_key().fingerprint}" in capsys.readouterr().out
    assert not (tmp_path / "state" / "pkgrun" / "gnupg").exists()
    assert main(["key", "init"], env={**env, "PKGRUN_SIGN_KEY": "nobody@example.invalid"}) == 2
    assert "no secret key 'nobody@example.invalid'" in capsys.readouterr().err


def test_el7_refuses_a_key_that_signs_through_a_subkey_only(
    tmp_path: Path, gnupg_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CentOS 7's rpm 4.11 verifies against primary keys only: refused before any work."""
    org_key(gnupg_home, "cert")
    rpm = make_rpm(tmp_path / "rpms", "alpha", release="1.el7")
    env = {"GNUPGHOME": str(gnupg_home), "PKGRUN_SIGN_KEY": "org@example.invalid", **state_env()}
    argv = ["publish", "--repo", str(tmp_path / "repo"), "--target", "el7", str(rpm)]
    assert main(argv, env=env) == 2
    err = capsys.readouterr().err
    assert "signs through a subkey only" in err and "primary keys only" in err
    assert not (tmp_path / "repo" / "el7").exists() or not list((tmp_path / "repo" / "el7").rglob("*.rpm"))
    # the same key is fine where rpm checks subkeys
    assert main([*argv[:4], "local", str(make_rpm(tmp_path / "rpms", "beta"))], env=env) == 0


def test_el7_packages_are_signed_by_the_primary_key_even_beside_a_signing_subkey(
    tmp_path: Path, gnupg_home: Path
) -> None:
    primary = org_key(gnupg_home, "sign")
    key = find_secret_key(gnupg_home, "org@example.invalid")
    assert key is not None and len(key.signing_fingerprints) == 2  # gpg would pick the subkey
    env = {"GNUPGHOME": str(gnupg_home), "PKGRUN_SIGN_KEY": "org@example.invalid", **state_env()}
    for target, signer in (("el7", primary), ("local", None)):
        rpm = make_rpm(tmp_path / "rpms" / target, "alpha", release=f"1.{target}")
        assert main(["publish", "--repo", str(tmp_path / "repo"), "--target", target, str(rpm)], env=env) == 0
        published = tmp_path / "repo" / target / "x86_64" / rpm.name
        got = signed_by([published])[published]
        if signer is not None:
            assert got == signer[-16:].lower()
        else:
            assert got != primary[-16:].lower()  # gpg's own choice, the newest signing subkey
