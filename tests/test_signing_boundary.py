"""pkgrun signs only what it can account for, and re-signing is a publish.

Someone who can write the repository directory but has no key plants a package (a new one, or
other content under a published NEVRA), remakes the metadata with createrepo_c and deletes the
published key file: neither `repo sign` nor the next ordinary publish signs it, or anything
else. And `repo sign` or a first signed publish killed at any moment leaves metadata whose every
package has the bytes it lists."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import key_env, make_rpm, require_tools, session_key, state_env
from pkgrun.cli.main import main
from pkgrun.repo.data import packages_in
from pkgrun.rpm.header import content_digest
from pkgrun.run import find_tool
from pkgrun.trust.signing import KEY_FILE, signed_by, verified


@pytest.fixture(autouse=True)
def host_tools() -> None:
    require_tools("gpg", "rpm", "rpmsign")


def unsigned_env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), **state_env()}


def publish(repo: Path, rpms: list[Path], env: dict[str, str], *extra: str) -> int:
    return main(["publish", "--repo", str(repo), "--target", "local", *extra, *map(str, rpms)], env=env)


def attacker_remakes_metadata(arch_dir: Path) -> None:
    """What someone with write access and createrepo_c does: metadata for every RPM there."""
    subprocess.run([find_tool("createrepo_c"), "--quiet", "--no-database", str(arch_dir)], check=True)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def consistent(arch_dir: Path) -> list[str]:
    """The packages the live metadata lists whose file does not have the listed sha256 (what dnf
    refuses with 'has incorrect checksum')."""
    wrong = []
    for pkg in packages_in(arch_dir):
        path = arch_dir / str(pkg.location_href)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if digest != str(pkg.pkgId):
            wrong.append(f"{pkg.location_href}: {digest[:12]} != {str(pkg.pkgId)[:12]}")
    return wrong


@pytest.mark.parametrize("signed_before", [True, False], ids=["signed-repo", "unsigned-repo"])
@pytest.mark.parametrize("command", ["publish", "repo-sign"])
@pytest.mark.parametrize("plant", ["replace", "add"])
def test_a_planted_package_is_never_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plant: str, command: str, signed_before: bool
) -> None:
    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    alpha = make_rpm(tmp_path / "rpms", "alpha")
    first_env = key_env() if signed_before else unsigned_env(tmp_path)
    assert publish(repo, [alpha], first_env, *([] if signed_before else ["--unsigned"])) == 0

    if plant == "replace":  # other content under the published NEVRA
        planted = arch_dir / alpha.name
        shutil.copyfile(make_rpm(tmp_path / "evil", "alpha", payload="backdoor"), planted)
    else:  # a package pkgrun never built
        planted = arch_dir / make_rpm(tmp_path / "evil", "backdoor", version="6.6", release="1.local").name
        shutil.copyfile(tmp_path / "evil" / planted.name, planted)
    attacker_remakes_metadata(arch_dir)
    (repo / "local" / KEY_FILE).unlink(missing_ok=True)
    before = snapshot(repo)
    capsys.readouterr()

    if command == "publish":
        code = publish(repo, [make_rpm(tmp_path / "rpms", "beta")], key_env())
    else:
        code = main(["repo", "sign", "--repo", str(repo), "--target", "local"], env=key_env())
    err = capsys.readouterr().err
    assert code == 1
    assert f"{planted}: " in err and "nothing was written or signed" in err
    assert (
        ("is not what pkgrun published" in err or "pkgrun published" in err)
        if plant == "replace"
        else ("pkgrun has no record of publishing it" in err)
    )
    assert snapshot(repo) == before  # nothing written, nothing signed
    assert signed_by([planted])[planted] is None

    # the planted file removed, pkgrun publishes again: the metadata it signs lists only its own
    planted.unlink()
    assert publish(repo, [make_rpm(tmp_path / "rpms", "gamma")], key_env()) == 0
    listed = {str(p.location_href) for p in packages_in(arch_dir)}
    assert planted.name not in listed and "gamma-1.0-1.local.x86_64.rpm" in listed
    assert consistent(arch_dir) == []
    rpms = sorted(arch_dir / name for name in listed)
    assert verified(session_key(), rpms) == set(rpms)


def test_metadata_rewritten_around_a_published_package_is_not_signed_again(tmp_path: Path) -> None:
    """The same file, metadata that says something else of it (a summary here; an Obsoletes
    would remove packages on servers): pkgrun's next metadata describes the package itself."""
    import createrepo_c as cr

    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    alpha = make_rpm(tmp_path / "rpms", "alpha")
    assert publish(repo, [alpha], key_env()) == 0
    published = arch_dir / alpha.name
    pkg = cr.package_from_rpm(str(published), location_href=alpha.name)
    pkg.summary = "rewritten by someone else"
    stat = published.stat()
    pkg.time_file = int(stat.st_mtime)  # as createrepo_c records it, so that it would reuse this
    repodata = arch_dir / "repodata"
    shutil.rmtree(repodata)
    repodata.mkdir()
    repomd = cr.Repomd()
    for kind, writer in (
        ("primary", cr.PrimaryXmlFile),
        ("filelists", cr.FilelistsXmlFile),
        ("other", cr.OtherXmlFile),
    ):
        path = repodata / f"{kind}.xml.gz"
        xml = writer(str(path))
        xml.set_num_of_pkgs(1)
        xml.add_pkg(pkg)
        xml.close()
        record = cr.RepomdRecord(kind, str(path))
        record.fill(cr.SHA256)
        repomd.set_record(record)
    (repodata / "repomd.xml").write_text(repomd.xml_dump())
    assert [str(p.summary) for p in packages_in(arch_dir)] == ["rewritten by someone else"]

    assert publish(repo, [make_rpm(tmp_path / "rpms", "beta")], key_env()) == 0
    summaries = {str(p.name): str(p.summary) for p in packages_in(arch_dir)}
    assert summaries["alpha"] == str(cr.package_from_rpm(str(alpha)).summary) != "rewritten by someone else"


def test_a_repository_pkgrun_has_no_record_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Published by an older pkgrun (or another machine's state): its packages signed with the
    key are taken as they are; an unsigned one is signed only once it is published by name."""
    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    alpha, beta = make_rpm(tmp_path / "rpms", "alpha"), make_rpm(tmp_path / "rpms", "beta")
    assert publish(repo, [alpha], unsigned_env(tmp_path), "--unsigned") == 0
    other_state = {**key_env(), "XDG_STATE_HOME": str(tmp_path / "elsewhere")}
    capsys.readouterr()
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local"], env=other_state) == 1
    err = capsys.readouterr().err
    assert "pkgrun had no record of publishing into" in err and "no record of its content" in err
    assert signed_by([arch_dir / alpha.name])[arch_dir / alpha.name] is None

    # published by name, it is vouched for: signed, and the repository with it
    assert publish(repo, [arch_dir / alpha.name, beta], other_state) == 0
    rpms = [arch_dir / alpha.name, arch_dir / beta.name]
    assert verified(session_key(), rpms) == set(rpms) and consistent(arch_dir) == []

    # a signed repository with no record: what carries a good signature by the key stays
    assert (
        publish(
            repo,
            [make_rpm(tmp_path / "rpms", "gamma")],
            {**key_env(), "XDG_STATE_HOME": str(tmp_path / "third")},
        )
        == 0
    )
    assert len(packages_in(arch_dir)) == 3


def test_repo_sign_names_what_it_signs_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    rpms = [make_rpm(tmp_path / "rpms", name) for name in ("alpha", "beta")]
    assert publish(repo, rpms, unsigned_env(tmp_path), "--unsigned") == 0
    before = snapshot(repo)
    capsys.readouterr()
    assert main(["repo", "sign", "--dry-run", "--repo", str(repo), "--target", "local"], env=key_env()) == 0
    err = capsys.readouterr()
    for rpm in rpms:
        assert f"would sign {arch_dir / rpm.name}: its content is what pkgrun published" in err.err
    assert "would sign 2 package(s)" in err.out and snapshot(repo) == before
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local"], env=key_env()) == 0
    assert f"signing {arch_dir / rpms[0].name}" in capsys.readouterr().err
    assert not (arch_dir / "resigned").exists() and consistent(arch_dir) == []


def pkgrun(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pkgrun", *argv],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


KILLS = 6  # moments spread evenly over the signing, SIGTERM and SIGKILL in turn


@pytest.mark.parametrize("command", ["repo-sign", "first-signed-publish"])
def test_killed_while_signing_the_repository_stays_readable(tmp_path: Path, command: str) -> None:
    """A repository of 24 unsigned packages signed, killed (SIGKILL and SIGTERM, as systemd
    stops a job) at moments spread over the signing: after each kill, every package the live
    metadata lists has the bytes it lists; a run to the end then signs them all."""
    template, repo = tmp_path / "template", tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    rpms = [make_rpm(tmp_path / "rpms", f"pkg{i:02d}") for i in range(24)]
    newcomer = make_rpm(tmp_path / "new", "newcomer")
    state = Path(state_env()["XDG_STATE_HOME"]) / "pkgrun" / "published"
    assert publish(repo, rpms, unsigned_env(tmp_path), "--unsigned") == 0
    shutil.copytree(repo, template, symlinks=True)
    records = tmp_path / "records"
    shutil.copytree(state, records)
    if command == "repo-sign":
        argv = ["repo", "sign", "--repo", str(repo), "--target", "local"]
    else:
        argv = ["publish", "--repo", str(repo), "--target", "local", str(newcomer)]

    def fresh() -> None:
        shutil.rmtree(repo)
        shutil.copytree(template, repo, symlinks=True)
        shutil.rmtree(state)
        shutil.copytree(records, state)

    started = time.monotonic()
    assert pkgrun(argv, key_env()).wait(timeout=300) == 0
    took = time.monotonic() - started
    kills = 0
    for i in range(KILLS):
        fresh()
        process = pkgrun(argv, key_env())
        time.sleep(took * (i + 0.5) / KILLS)
        process.send_signal(signal.SIGKILL if i % 2 else signal.SIGTERM)
        kills += process.wait(timeout=60) != 0
        assert consistent(arch_dir) == [], f"after a kill at {took * (i + 0.5) / KILLS:.2f}s"
        assert pkgrun(argv, key_env()).wait(timeout=300) == 0  # the next run finishes the job
        listed = sorted(arch_dir / str(p.location_href) for p in packages_in(arch_dir))
        assert len(listed) == (24 if command == "repo-sign" else 25) and consistent(arch_dir) == []
        assert verified(session_key(), listed) == set(listed)
        assert not (arch_dir / "resigned").exists()
    assert kills >= KILLS // 2  # most kills landed while it was still working


def test_a_repository_removed_and_made_anew_starts_unsigned(tmp_path: Path) -> None:
    """pkgrun's record outlives the directory: a repository removed is no longer 'signed'."""
    repo = tmp_path / "repo"
    assert publish(repo, [make_rpm(tmp_path / "rpms", "alpha")], key_env()) == 0
    shutil.rmtree(repo)
    assert publish(repo, [make_rpm(tmp_path / "rpms", "beta")], unsigned_env(tmp_path), "--unsigned") == 0
    assert [str(p.name) for p in packages_in(repo / "local" / "x86_64")] == ["beta"]


@pytest.mark.parametrize("command", ["publish", "repo-sign"])
def test_a_file_swapped_while_pkgrun_signs_is_not_what_it_signs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Someone who can write the repository races pkgrun: whenever rpmsign runs, every file in
    the repository (temporaries and packages alike) is swapped for other content of the same
    NEVRA. What pkgrun signs is what it checked, never a file inside the repository."""
    from pkgrun.repo import resign

    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    alpha = make_rpm(tmp_path / "rpms", "alpha")
    evil = make_rpm(tmp_path / "evil", "alpha", payload="backdoor")
    if command == "repo-sign":
        assert publish(repo, [alpha], unsigned_env(tmp_path), "--unsigned") == 0
    real_sign = resign.sign_rpms
    signed: list[Path] = []

    def racing_sign(key: object, rpms: list[Path]) -> list[Path]:
        for path in repo.rglob("*.rpm*"):
            if path.is_file():
                shutil.copyfile(evil, path)
        signed.extend(rpms)
        return real_sign(key, rpms)  # type: ignore[arg-type]

    monkeypatch.setattr(resign, "sign_rpms", racing_sign)
    if command == "publish":
        code = publish(repo, [alpha], key_env())
    else:
        code = main(["repo", "sign", "--repo", str(repo), "--target", "local"], env=key_env())
    assert signed and not any(path.is_relative_to(repo) for path in signed)
    evil_content = content_digest(evil)
    for path in repo.rglob("*.rpm*"):  # whatever is there now: nothing of the attacker's signed
        if path.is_file() and content_digest(path) == evil_content:
            assert verified(session_key(), [path]) == set(), path
    assert code == 0  # what it signed was its own copy; the copies it placed came after the race
    listed = [arch_dir / str(p.location_href) for p in packages_in(arch_dir)]
    assert [content_digest(path) for path in listed] == [content_digest(alpha)]
    assert verified(session_key(), listed) == set(listed) and consistent(arch_dir) == []


def test_metadata_with_an_epoch_rpm_never_writes_is_refused_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'²' passes str.isdigit() and fails int(): metadata that lists it was written by someone else."""
    import gzip

    from pkgrun.repo.data import published_releases

    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    alpha = make_rpm(tmp_path / "rpms", "alpha")
    assert publish(repo, [alpha], unsigned_env(tmp_path), "--unsigned") == 0
    (primary,) = (arch_dir / "repodata").glob("*primary.xml.gz")
    xml = gzip.decompress(primary.read_bytes()).decode()
    assert xml.count('<version epoch="0"') == 1
    primary.write_bytes(gzip.compress(xml.replace('<version epoch="0"', '<version epoch="²"').encode()))
    assert published_releases(repo, "local", "alpha") == []  # no release rpm could have written
    before = snapshot(repo)
    capsys.readouterr()
    no_record = {**unsigned_env(tmp_path), "XDG_STATE_HOME": str(tmp_path / "elsewhere")}
    assert publish(repo, [make_rpm(tmp_path / "rpms", "beta")], no_record, "--unsigned") == 1
    err = capsys.readouterr().err
    assert f"{arch_dir / alpha.name}: epoch '²' is not a number" in err and "internal error" not in err
    assert snapshot(repo) == before


@pytest.mark.parametrize("planted", ["fifo", "device", "link"])
def test_a_published_package_swapped_for_a_special_file_is_refused_not_read(
    tmp_path: Path, planted: str
) -> None:
    """A FIFO would make pkgrun wait for a writer forever, /dev/zero would fill the disk, a
    symlink would make pkgrun sign a file outside the repository."""
    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    alpha = make_rpm(tmp_path / "rpms", "alpha")
    assert publish(repo, [alpha], unsigned_env(tmp_path), "--unsigned") == 0
    published = arch_dir / alpha.name
    outside = tmp_path / "outside.rpm"
    shutil.copy(published, outside)
    published.unlink()
    if planted == "fifo":
        os.mkfifo(published)
    else:
        published.symlink_to("/dev/zero" if planted == "device" else outside)
    env = {**key_env(), **{k: v for k, v in unsigned_env(tmp_path).items() if k != "HOME"}}
    signing = subprocess.run(
        [sys.executable, "-m", "pkgrun", "repo", "sign", "--repo", str(repo), "--target", "local"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert signing.returncode != 0 and "Traceback" not in signing.stderr, signing.stderr
    assert str(published) in signing.stderr
    assert signed_by([outside])[outside] is None and not (arch_dir / "resigned").exists()


def test_repo_sign_signs_in_batches_and_every_package_is_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rpmsign signs the private copies a batch at a time (what the temporary directory holds at
    once is one batch, not the repository); every package ends signed, the metadata consistent."""
    from pkgrun.repo import resign

    monkeypatch.setattr(resign, "SIGN_BATCH", 4)
    batches: list[int] = []
    real = resign.sign_rpms
    monkeypatch.setattr(resign, "sign_rpms", lambda key, rpms: batches.append(len(rpms)) or real(key, rpms))
    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    rpms = [make_rpm(tmp_path / "rpms", f"pkg{i:02d}") for i in range(10)]
    assert publish(repo, rpms, unsigned_env(tmp_path), "--unsigned") == 0
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local"], env=key_env()) == 0
    assert batches == [4, 4, 2]
    listed = sorted(arch_dir / str(p.location_href) for p in packages_in(arch_dir))
    assert len(listed) == 10 and verified(session_key(), listed) == set(listed) and consistent(arch_dir) == []
