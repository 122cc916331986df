"""noarch packages reach servers of every architecture: the .repo file's baseurl ends in
$basearch, so each architecture the distribution ships has a repository of its own, and a
noarch package is in each (as Fedora and EPEL publish noarch), signed once, the same bytes;
a repository published before that (noarch in one directory) is completed by the next publish,
from the files pkgrun's record vouches for."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import key_env, make_rpm, require_tools, state_env
from pkgrun.cli.main import main
from pkgrun.repo.data import list_published, listed_files
from pkgrun.targets import TARGETS, get_target
from pkgrun.trust.file_facts import file_facts
from pkgrun.trust.sbom import SUFFIX as SBOM_SUFFIX
from pkgrun.trust.sbom import make_sbom

ARCHES = get_target("local").arches


@pytest.fixture(autouse=True)
def host_tools() -> None:
    require_tools("gpg", "rpm", "rpmsign")


def publish(repo: Path, rpms: list[Path], env: dict[str, str]) -> int:
    signing = [] if "PKGRUN_SIGN_KEY" in env else ["--unsigned"]
    return main(["publish", *signing, "--repo", str(repo), "--target", "local", *map(str, rpms)], env=env)


def test_every_architecture_has_a_repository_and_each_holds_the_noarch_package(tmp_path: Path) -> None:
    tool = make_rpm(tmp_path / "rpms", "tool", arch="noarch")
    daemon = make_rpm(tmp_path / "rpms", "daemon")
    repo = tmp_path / "repo"
    assert publish(repo, [tool, daemon], key_env()) == 0
    assert len(ARCHES) > 1
    copies = []
    for arch in ARCHES:
        listed = listed_files(repo / "local" / arch)
        assert tool.name in listed, arch
        assert (daemon.name in listed) == (arch == "x86_64"), arch
        copies.append((repo / "local" / arch / tool.name).read_bytes())
        assert (repo / "local" / arch / tool.name.replace(".rpm", SBOM_SUFFIX)).is_file()
    assert len(set(copies)) == 1  # signed once: the same bytes everywhere
    signature = subprocess.run(
        ["rpm", "-qp", "--qf", "%{RSAHEADER:pgpsig}", str(repo / "local" / ARCHES[-1] / tool.name)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "Key ID" in signature
    # one row each, as a consumer asks for the package by name
    assert sorted(p.nevra for p in list_published(repo)) == [
        "daemon-0:1.0-1.local.x86_64",
        "tool-0:1.0-1.local.noarch",
    ]


def test_retention_keeps_the_same_noarch_releases_everywhere(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for version in ("1.0", "1.1", "1.2"):
        rpm = make_rpm(tmp_path / "rpms", "tool", version=version, arch="noarch")
        argv = ["publish", "--unsigned", "--keep", "2", "--repo", str(repo), "--target", "local", str(rpm)]
        assert main(argv, env=state_env()) == 0
    for arch in ARCHES:
        assert listed_files(repo / "local" / arch) == {
            "tool-1.1-1.local.noarch.rpm",
            "tool-1.2-1.local.noarch.rpm",
        }
        assert sorted(p.name for p in (repo / "local" / arch).glob("*.rpm")) == [
            "tool-1.1-1.local.noarch.rpm",
            "tool-1.2-1.local.noarch.rpm",
        ]


def one_arch(monkeypatch: pytest.MonkeyPatch) -> None:
    """pkgrun as it was: the local target's noarch packages in its x86_64 repository only."""
    monkeypatch.setitem(TARGETS, "local", dataclasses.replace(TARGETS["local"], arches=("x86_64",)))


def test_a_repository_with_noarch_in_one_directory_is_completed_by_the_next_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    tool = make_rpm(tmp_path / "rpms", "tool", arch="noarch")
    with monkeypatch.context() as patch:
        one_arch(patch)
        assert publish(repo, [tool], key_env()) == 0
    assert sorted(p.name for p in (repo / "local").iterdir() if p.is_dir()) == ["x86_64"]
    assert publish(repo, [make_rpm(tmp_path / "rpms", "daemon")], key_env()) == 0
    for arch in ARCHES:
        assert tool.name in listed_files(repo / "local" / arch), arch
        assert (repo / "local" / arch / tool.name).read_bytes() == (
            repo / "local" / "x86_64" / tool.name
        ).read_bytes()


def test_a_noarch_file_changed_in_place_is_not_copied_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone who can write the repository rewrites the one published copy: the next publish
    refuses to spread it, says which file, and switches nothing."""
    repo = tmp_path / "repo"
    tool = make_rpm(tmp_path / "rpms", "tool", arch="noarch")
    with monkeypatch.context() as patch:
        one_arch(patch)
        assert publish(repo, [tool], state_env()) == 0
    published = repo / "local" / "x86_64" / tool.name
    published.write_bytes(make_rpm(tmp_path / "other", "tool", arch="noarch", payload="evil").read_bytes())
    before = (repo / "local" / "x86_64" / "repodata" / "repomd.xml").read_bytes()
    code = publish(repo, [make_rpm(tmp_path / "rpms", "daemon")], state_env())
    assert code != 0
    assert (repo / "local" / "x86_64" / "repodata" / "repomd.xml").read_bytes() == before
    for arch in ARCHES[1:]:
        assert not (repo / "local" / arch / tool.name).exists()


def test_repo_sign_completes_the_architectures_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    tool = make_rpm(tmp_path / "rpms", "tool", arch="noarch")
    with monkeypatch.context() as patch:
        one_arch(patch)
        assert publish(repo, [tool], state_env()) == 0
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local", "--json"], env=key_env()) == 0
    for arch in ARCHES:
        assert tool.name in listed_files(repo / "local" / arch), arch
        assert (repo / "local" / arch / "repodata" / "repomd.xml.asc").is_file()


def test_dnf_of_another_architecture_finds_the_noarch_package_through_the_repo_file(tmp_path: Path) -> None:
    """Debian's dnf, told it runs on aarch64 (--forcearch), reads pkgrun's .repo file as a
    server of that architecture would: the noarch package is offered, the x86_64 one is not."""
    require_tools("dnf")
    repo = tmp_path / "repo"
    rpms = [make_rpm(tmp_path / "rpms", "tool", arch="noarch"), make_rpm(tmp_path / "rpms", "daemon")]
    assert publish(repo, rpms, state_env()) == 0
    reposdir = tmp_path / "repos.d"
    reposdir.mkdir()
    (reposdir / "pkgrun.repo").write_text((repo / "local" / "pkgrun.repo").read_text())

    def offered(arch: str) -> list[str]:
        out = subprocess.run(
            ["dnf", "-q", f"--forcearch={arch}", f"--setopt=reposdir={reposdir}",
             f"--setopt=cachedir={tmp_path / 'cache' / arch}", "--releasever=12", "repoquery",
             "--qf", "%{name}.%{arch}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return sorted(out.split())

    assert offered("aarch64") == ["tool.noarch"]
    assert offered("x86_64") == ["daemon.x86_64", "tool.noarch"]


def test_repo_list_names_a_noarch_package_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    assert publish(repo, [make_rpm(tmp_path / "rpms", "tool", arch="noarch")], state_env()) == 0
    capsys.readouterr()
    assert main(["repo", "list", "--json", "--repo", str(repo)], env=state_env()) == 0
    rows = json.loads(capsys.readouterr().out)
    # when it was published, not the source's date its reproducible build time is
    published, built = (datetime.fromisoformat(rows[0][k]) for k in ("published", "built"))
    assert abs((datetime.now(UTC) - published).total_seconds()) < 3600 and built.year == 2024
    assert [(row["nevra"], Path(row["path"]).parent.name) for row in rows] == [
        ("tool-0:1.0-1.local.noarch", "x86_64")
    ]


def test_an_architecture_whose_packages_did_not_change_keeps_its_metadata_unless_it_was_altered(
    tmp_path: Path,
) -> None:
    """Publishing an x86_64 package writes x86_64's metadata only; the other architectures'
    repomd.xml stay as pkgrun wrote them, unless someone changed one (or its signature): that
    one is written anew."""
    repo = tmp_path / "repo"
    assert publish(repo, [make_rpm(tmp_path / "rpms", "tool", arch="noarch")], key_env()) == 0
    repomd = {arch: repo / "local" / arch / "repodata" / "repomd.xml" for arch in ARCHES}
    before = {arch: path.stat().st_ino for arch, path in repomd.items()}  # a file written anew is a new one
    (repo / "local" / "s390x" / "repodata" / "repomd.xml.asc").write_text("not a signature\n")
    assert publish(repo, [make_rpm(tmp_path / "rpms", "daemon")], key_env()) == 0
    after = {arch: path.stat().st_ino for arch, path in repomd.items()}
    assert [arch for arch in ARCHES if after[arch] != before[arch]] == ["x86_64", "s390x"]
    # gpgv (gnupg's dependency), which starts no agent, with the published key as its keyring
    require_tools("gpgv")
    keyring = tmp_path / "key.gpg"
    subprocess.run(
        ["gpg", "--batch", "--homedir", str(tmp_path), "--dearmor", "--output", str(keyring),
         str(repo / "local" / "RPM-GPG-KEY-pkgrun")],
        check=True, capture_output=True,
    )  # fmt: skip
    for arch in ARCHES:
        subprocess.run(
            ["gpgv", "--keyring", str(keyring), f"{repomd[arch]}.asc", str(repomd[arch])],
            check=True,
            capture_output=True,
        )


@pytest.mark.parametrize("link", ["aarch64", "aarch64/repodata"])
def test_an_architecture_directory_that_is_a_link_is_refused_and_nothing_is_written_through_it(
    tmp_path: Path, link: str
) -> None:
    """Someone who can write the repository makes an architecture's directory, or its
    repodata/, a link (outside, or to another architecture's): the publish refuses, naming it,
    and writes or removes nothing where it leads."""
    repo = tmp_path / "repo"
    assert publish(repo, [make_rpm(tmp_path / "rpms", "tool", arch="noarch")], state_env()) == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    shutil.rmtree(repo / "local" / "aarch64")
    if link == "aarch64/repodata":
        (repo / "local" / "aarch64").mkdir()
    (repo / "local" / link).symlink_to(outside)
    assert publish(repo, [make_rpm(tmp_path / "rpms", "daemon")], state_env()) == 2
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert "daemon-1.0-1.local.x86_64.rpm" not in listed_files(repo / "local" / "x86_64")


def test_a_new_key_signs_a_noarch_package_once_for_every_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pkgrun.repo.resign as resign

    repo = tmp_path / "repo"
    tool = make_rpm(tmp_path / "rpms", "tool", arch="noarch")
    assert publish(repo, [tool], state_env()) == 0
    signed: list[Path] = []
    real = resign.sign_rpms
    monkeypatch.setattr(resign, "sign_rpms", lambda key, paths: (signed.extend(paths), real(key, paths))[1])
    assert main(["repo", "sign", "--repo", str(repo), "--target", "local"], env=key_env()) == 0
    assert len(signed) == 1
    assert len({(repo / "local" / arch / tool.name).read_bytes() for arch in ARCHES}) == 1


def test_repo_sign_dry_run_names_the_noarch_copies_it_would_make_and_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repository whose noarch package is in x86_64 alone, unsigned: the dry run lists the
    package and each copy the run would make into another architecture, all to be signed, and
    writes nothing; the run then does what it listed."""
    repo = tmp_path / "repo"
    tool = make_rpm(tmp_path / "rpms", "tool", arch="noarch")
    with monkeypatch.context() as patch:
        one_arch(patch)
        assert publish(repo, [tool], state_env()) == 0
    before = sorted(str(p) for p in repo.rglob("*"))
    capsys.readouterr()
    argv = ["repo", "sign", "--repo", str(repo), "--target", "local"]
    assert main([*argv, "--dry-run", "--json"], env=key_env()) == 0
    captured = capsys.readouterr()
    would = sorted(json.loads(captured.out)["signed"])
    for arch in ARCHES:
        if arch != "x86_64":
            assert f"would copy {tool.name} into {repo / 'local' / arch} and sign it" in captured.err
    assert str(repo / "local" / "x86_64" / tool.name) in would and len(would) == len(ARCHES)
    assert sorted(str(p) for p in repo.rglob("*")) == before
    # the run signs what the dry run said, and each architecture holds the copy
    assert main([*argv, "--json"], env=key_env()) == 0
    assert sorted(json.loads(capsys.readouterr().out)["signed"]) == would
    assert all((repo / "local" / arch / tool.name).is_file() for arch in ARCHES)


def test_a_replaced_noarch_package_has_the_same_sbom_everywhere(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert publish(repo, [make_rpm(tmp_path / "a", "tool", arch="noarch")], key_env()) == 0
    new = make_rpm(tmp_path / "b", "tool", arch="noarch", payload="v2")
    sbom = new.with_name(new.name.removesuffix(".rpm") + SBOM_SUFFIX)
    document = json.loads(make_sbom(file_facts(new, "local")))
    document["metadata"].setdefault("properties", []).append({"name": "built-by", "value": "the build"})
    sbom.write_text(json.dumps(document))
    argv = ["publish", "--force", "--repo", str(repo), "--target", "local", str(new)]
    assert main(argv, env=key_env()) == 0
    for arch in ARCHES:
        assert (repo / "local" / arch / sbom.name).read_text() == sbom.read_text(), arch


def test_retention_drops_a_noarch_release_from_every_architecture(tmp_path: Path) -> None:
    """foo was noarch and is x86_64 now: x86_64's retention drops foo-1.0.noarch, and so does
    every other architecture's repository (which hold no newer foo): one set everywhere."""
    repo = tmp_path / "repo"
    rpms = [make_rpm(tmp_path / "rpms", "foo", "1.0", arch="noarch")]
    rpms += [make_rpm(tmp_path / "rpms", "foo", version) for version in ("1.1", "1.2")]
    for rpm in rpms:
        argv = ["publish", "--unsigned", "--keep", "2", "--repo", str(repo), "--target", "local", str(rpm)]
        assert main(argv, env=state_env()) == 0
    for arch in ARCHES:
        assert not any(name.startswith("foo-1.0-") for name in listed_files(repo / "local" / arch)), arch
        assert not (repo / "local" / arch / "foo-1.0-1.local.noarch.rpm").exists(), arch


def test_altered_metadata_is_written_anew_even_where_no_package_changed(tmp_path: Path) -> None:
    """x86_64's primary file replaced (repomd.xml left as it was): the next publish, which
    changes nothing there, writes x86_64's metadata again: its files match repomd.xml."""
    repo = tmp_path / "repo"
    rpms = [make_rpm(tmp_path / "rpms", "tool", arch="noarch"), make_rpm(tmp_path / "rpms", "daemon")]
    assert publish(repo, rpms, state_env()) == 0
    x86 = repo / "local" / "x86_64" / "repodata"
    primary = next(x86.glob("*-primary.xml*"))
    shutil.copyfile(next((repo / "local" / "s390x" / "repodata").glob("*-primary.xml*")), primary)
    assert publish(repo, [make_rpm(tmp_path / "rpms", "armd", arch="aarch64")], state_env()) == 0
    # the primary repomd.xml names now (the previous one stays for readers that hold the old
    # repomd.xml) has the checksum its name says
    named = re.search(r'href="repodata/([^"]*-primary\.xml[^"]*)"', (x86 / "repomd.xml").read_text())
    assert named is not None
    primary = x86 / named[1]
    assert primary.name.startswith(hashlib.sha256(primary.read_bytes()).hexdigest())
