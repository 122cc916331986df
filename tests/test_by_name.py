"""pkgrun's packages installed by name on a client that also has the distribution's
repositories, as a server has them: Debian's dnf 4.14, a real client, with a small
"distribution" built here (an EPEL-like repository with nginx-1:1.20.1 and a supervisor of a
higher version; an el8-like AppStream whose default module stream nginx:1.14 ships
nginx-1:1.14.1), and pkgrun's repository as `pkgrun publish` writes it, with its own .repo file.

With the .repo file as pkgrun writes it, pkgrun's packages land. Without its settings the
distribution's land, so that the test can fail; and the install test's explanation
(byname.explain) says why from the offers dnf lists.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import nfpm_package, require_tools, state_env
from pkgrun.cli.main import main
from pkgrun.install.byname import explain, offers_argv, parse_offers
from pkgrun.repo.data import read_dist
from pkgrun.run import find_tool
from pkgrun.targets import get_target

# An el8 AppStream's default stream: its artifacts hide every non-modular nginx
MODULES = """---
document: modulemd
version: 2
data:
  name: nginx
  stream: "1.14"
  version: 820181003
  context: 9edba152
  arch: x86_64
  summary: nginx
  description: nginx
  license:
    module: [MIT]
  dependencies:
  - buildrequires:
      platform: [el8]
    requires:
      platform: [el8]
  profiles:
    common:
      rpms: [nginx]
  artifacts:
    rpms:
    - nginx-1:1.14.1-9.module_el8.x86_64
...
---
document: modulemd-defaults
version: 1
data:
  module: nginx
  stream: "1.14"
  profiles:
    "1.14": [common]
...
"""
OURS = {"nginx": "nginx-0:1.22.1-2.local.x86_64", "supervisor": "supervisor-0:4.2.5-1.local.noarch"}


@pytest.fixture(autouse=True)
def tools() -> None:
    require_tools("dnf", "rpm")


def package(directory: Path, nevra: str) -> Path:
    name_epoch_version, release_arch = nevra.rsplit("-", 1)
    name, epoch_version = name_epoch_version.rsplit("-", 1)
    epoch, version = epoch_version.split(":")
    release, arch = release_arch.rsplit(".", 1)
    directory.mkdir(parents=True, exist_ok=True)
    content = directory / f".{name}-{version}.content"
    content.write_text(nevra + "\n")
    config = {
        "name": name, "arch": arch, "version": version, "release": release, "epoch": epoch,
        "version_schema": "none", "maintainer": "tests", "description": nevra, "license": "MIT",
        "rpm": {"compression": "gzip", "summary": nevra},
        "contents": [{"src": str(content), "dst": f"/usr/share/{name}/{version}"}],
    }  # fmt: skip
    return nfpm_package(config, directory / f"{name}-{version}-{release}.{arch}.rpm")


def repository(directory: Path, nevras: list[str], modules: str | None = None) -> Path:
    for nevra in nevras:
        package(directory, nevra)
    subprocess.run([find_tool("createrepo_c"), "--quiet", str(directory)], check=True)
    if modules is not None:
        (directory / "modules.yaml").write_text(modules)
        subprocess.run(
            [find_tool("modifyrepo_c"), "--mdtype=modules", str(directory / "modules.yaml"),
             str(directory / "repodata")], check=True, capture_output=True,
        )  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("world")
    distribution = (
        "[appstream]\nname=AppStream\nbaseurl=file://{appstream}\ngpgcheck=0\n\n"
        "[epel]\nname=EPEL\nbaseurl=file://{epel}\ngpgcheck=0\n"
    ).format(
        appstream=repository(where / "appstream", ["nginx-1:1.14.1-9.module_el8.x86_64"], MODULES),
        epel=repository(where / "epel", ["nginx-1:1.20.1-10.el8.x86_64", "supervisor-0:99.0-1.el8.noarch"]),
    )
    (where / "distribution.repo").write_text(distribution)
    rpms = [package(where / "built", nevra) for nevra in OURS.values()]
    argv = ["publish", "--unsigned", "--repo", str(where / "repo"), "--target", "local", *map(str, rpms)]
    assert main(argv, env=state_env()) == 0
    return where


def client(world: Path, name: str, repo_file: str) -> list[str]:
    """dnf's options for a fresh client ``name``: the distribution's .repo and ``repo_file``."""
    root, repos = world / "clients" / name, world / "clients" / f"{name}.repos.d"
    repos.mkdir(parents=True)
    (repos / "distribution.repo").write_text((world / "distribution.repo").read_text())
    (repos / "pkgrun.repo").write_text(repo_file)
    return [
        "dnf", "-y", "-q", f"--installroot={root}", f"--setopt=reposdir={repos}",
        f"--setopt=cachedir={root}.cache", "--releasever=8", "--setopt=module_platform_id=platform:el8",
    ]  # fmt: skip


def installed(dnf: list[str]) -> dict[str, str]:
    subprocess.run([*dnf, "install", *OURS], check=True, capture_output=True)
    root = next(a for a in dnf if a.startswith("--installroot=")).split("=", 1)[1]
    out = subprocess.run(
        ["rpm", "--root", root, "-q", "--qf", "%{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}\\n", *OURS],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return dict(zip(OURS, out, strict=True))


def offers(dnf: list[str], name: str, unfiltered: bool = False) -> str:
    argv = offers_argv(get_target("local"), name, unfiltered=unfiltered)
    assert argv[0] == "dnf"
    options = [a for a in argv[1:] if a != "--releasever=12"]
    return subprocess.run([*dnf, *options], check=True, capture_output=True, text=True).stdout


def test_with_pkgrun_s_repo_file_pkgrun_s_packages_land(world: Path) -> None:
    repo_file = (world / "repo" / "local" / "pkgrun.repo").read_text()
    assert "priority=10" in repo_file and "module_hotfixes=1" in repo_file
    assert installed(client(world, "as-published", repo_file)) == OURS


@pytest.mark.parametrize(
    ("dropped", "reasons"),
    [
        (
            ("priority=",),
            {"nginx": "its epoch 1 is higher", "supervisor": "its version 99.0-1.el8 is higher"},
        ),
        (("module_hotfixes=",), {"nginx": "modular filtering"}),
        (("priority=", "module_hotfixes="), {"nginx": "modular filtering", "supervisor": "is higher"}),
    ],
)
def test_without_its_settings_the_distribution_wins_and_the_reason_is_told(
    world: Path, dropped: tuple[str, ...], reasons: dict[str, str]
) -> None:
    repo_file = "".join(
        line
        for line in (world / "repo" / "local" / "pkgrun.repo").read_text().splitlines(keepends=True)
        if not line.startswith(dropped)
    )
    dnf = client(world, "-".join(d.rstrip("=") for d in dropped), repo_file)
    got = installed(dnf)
    lost = {name for name in OURS if got[name] != OURS[name]}
    assert lost == set(reasons)
    for name in lost:
        every = parse_offers(offers(dnf, name, unfiltered=True))
        visible = parse_offers(offers(dnf, name))
        # the client names pkgrun's repository as its .repo file does
        why = explain(name, OURS[name], got[name], visible, every, ours={"pkgrun-local"})
        assert reasons[name] in why, why


def test_only_the_repository_s_own_regular_files_are_offered(tmp_path: Path) -> None:
    """A published package swapped for a link (to a file anywhere on this machine) is never
    what the install test copies and offers; nor is a listed path leading out."""
    from pkgrun.repo.data import _package_file, newest_release, read_dist

    rpm = package(tmp_path / "built", "libdemo-0:1.0-1.local.x86_64")
    assert main(["publish", "--unsigned", "--repo", str(tmp_path / "repo"), "--target", "local", str(rpm)],
                env=state_env()) == 0  # fmt: skip
    arch_dir = tmp_path / "repo" / "local" / "x86_64"
    assert newest_release(tmp_path / "repo", "local", "libdemo") == arch_dir / rpm.name
    assert read_dist(tmp_path / "repo", "local").providers(["libdemo"]) == [arch_dir / rpm.name]
    (arch_dir / rpm.name).unlink()
    (arch_dir / rpm.name).symlink_to(rpm)
    assert newest_release(tmp_path / "repo", "local", "libdemo") is None
    assert read_dist(tmp_path / "repo", "local").providers(["libdemo"]) == []
    for href in ("../../../etc/passwd", "/etc/passwd", "a/../../x", ""):
        assert _package_file(arch_dir, href) is None


def test_what_pkgrun_s_repository_provides_by_name_arch_capability_and_file(tmp_path: Path) -> None:
    """A requirement pkgrun's repository satisfies, however a recipe spells it, is found there
    (not asked of the distribution, where it would be unknown)."""
    content = tmp_path / "greet"
    content.write_text("#!/bin/sh\n")
    rpm = nfpm_package(
        {
            "name": "greet", "arch": "x86_64", "version": "1.0", "release": "1.local", "epoch": "0",
            "version_schema": "none", "maintainer": "tests", "description": "greet", "license": "MIT",
            "rpm": {"compression": "gzip", "summary": "greet"}, "mtime": "2024-01-01T00:00:00Z",
            "provides": ["greeter"],
            "contents": [{"src": str(content), "dst": "/usr/bin/greet", "file_info": {"mode": 0o755}}],
        },
        tmp_path / "greet-1.0-1.local.x86_64.rpm",
    )  # fmt: skip
    repo = tmp_path / "repo"
    assert (
        main(["publish", "--unsigned", "--repo", str(repo), "--target", "local", str(rpm)], env=state_env())
        == 0
    )
    wanted = ["greet", "greet.x86_64", "greeter", "/usr/bin/greet", "/usr/bin/other", "greet.noarch"]
    assert read_dist(repo, "local").provided(wanted) == {"greet", "greet.x86_64", "greeter", "/usr/bin/greet"}
