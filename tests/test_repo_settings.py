"""What each target's clients are told so that pkgrun's packages win (the .repo files, the
runtime image), what a site sets for the el images, and why an install by name went wrong."""

from __future__ import annotations

import configparser

import pytest

from pkgrun.config.settings import resolve
from pkgrun.engine.images import base_image_tag, containerfile_text
from pkgrun.errors import UsageError
from pkgrun.install.byname import (
    NEW_REPO,
    PUBLISHED_REPO,
    Offer,
    explain,
    install_argv,
    nevra_evr,
    parse_offers,
    repo_text,
)
from pkgrun.install.runtime_image import install_command
from pkgrun.install.shim import EL_FILESYSTEM_DIRS, shim_config
from pkgrun.repo.layout import repo_file_text
from pkgrun.rpm.evr import EVR
from pkgrun.targets import TARGETS


def sections(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_repo_file_puts_pkgrun_first(target: str) -> None:
    """priority everywhere (yum needs its plugin for it); module_hotfixes wherever dnf runs."""
    dist = TARGETS[target].dist
    for text in (
        repo_file_text(dist, "http://repo.example.internal:8780", signed=True),
        repo_text(TARGETS[target], [(NEW_REPO, "/r/new"), (PUBLISHED_REPO, "/r/published")], "/k"),
    ):
        for section in sections(text).values():
            assert section["priority"] == "10"
            assert section.get("module_hotfixes") == (None if target == "el7" else "1")
    # the runtime image's repository file too, where yum/dnf installs (rpm installs on local)
    script = install_command(TARGETS[target], {"nginx-1.0-1.x86_64.rpm": "nginx-0:1.0-1.x86_64"}, True)[2]
    assert ("priority=10" in script) is (target != "local")


def test_el7_s_runtime_image_has_the_priorities_plugin() -> None:
    text = containerfile_text("el7-runtime.Containerfile")
    assert "yum-plugin-priorities" in text and "yum-utils" in text


def test_the_image_installs_exact_nevras_and_checks_them() -> None:
    argv = install_command(
        TARGETS["el9"], {"nginx-1.22.1-2.el9.x86_64.rpm": "nginx-0:1.22.1-2.el9.x86_64"}, False
    )
    assert argv[-1] == "nginx-0:1.22.1-2.el9.x86_64"  # an argument, never shell text
    assert 'dnf install -y "$@"' in argv[2] and "another repository's package won" in argv[2]


def test_a_site_mirror_for_epel7_is_part_of_the_image() -> None:
    env = {"HOME": "/nonexistent", "PKGRUN_EPEL7_BASEURL": "https://mirror.example.internal/epel/7/"}
    site = resolve({}, env).target("el7")
    assert 'ARG EPEL7_BASEURL="https://mirror.example.internal/epel/7"' in containerfile_text(
        "el7.Containerfile", site.build_args
    )
    assert base_image_tag(site, "el7.Containerfile") != base_image_tag(TARGETS["el7"], "el7.Containerfile")
    assert resolve({}, {"HOME": "/nonexistent"}).target("el7") == TARGETS["el7"]


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "https://a b",
        'https://a"b',
        "https://a/$basearch",
        "ftp://a",
        "https://a/?b",
        "https://a&b",
        "https://a|b",
    ],
)
def test_a_bad_epel7_mirror_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="PKGRUN_EPEL7_BASEURL"):
        resolve({}, {"HOME": "/nonexistent", "PKGRUN_EPEL7_BASEURL": value})


def test_install_by_name_argv() -> None:
    assert install_argv(TARGETS["el7"], "nginx") == [
        "yum", "--setopt=skip_missing_names_on_install=False", "install", "-y", "nginx",
    ]  # fmt: skip
    assert install_argv(TARGETS["el9"], "nginx", only=PUBLISHED_REPO)[-2:] == [
        f"--disablerepo={NEW_REPO}",
        "nginx",
    ]
    # best=True: an upgrade whose requirements do not resolve fails, never exits 0 keeping the old
    assert install_argv(TARGETS["local"], "nginx", upgrade=True) == [
        "dnf", "--setopt=best=True", "--releasever=12", "upgrade", "-y", "nginx",
    ]  # fmt: skip
    assert all(
        "--setopt=best=True" in install_argv(t, "x") for t in TARGETS.values() if t.by_name[0] == "dnf"
    )


def test_nevras_parse() -> None:
    assert nevra_evr("nginx-1:1.20.1-10.el7.x86_64") == EVR(1, "1.20.1", "10.el7")
    assert nevra_evr("my-tool-0:2.0-1.local.noarch") == EVR(0, "2.0", "1.local")


OURS = "nginx-0:1.22.1-2.el8.x86_64"


def test_explanations() -> None:
    mine = Offer(NEW_REPO, OURS)
    theirs = Offer("epel", "nginx-0:1.22.1-3.el8.x86_64")
    assert "pkgrun's repositories do not offer" in explain("nginx", OURS, "nothing", [], [theirs])
    why = explain("nginx", OURS, theirs.nevra, [mine, theirs], [mine, theirs])
    assert "version 1.22.1-3.el8 is higher than pkgrun's 1.22.1-2.el8" in why
    older = Offer("local-mirror", "nginx-0:1.20.0-1.el8.x86_64")
    assert "won on priority" in explain("nginx", OURS, older.nevra, [mine, older], [mine, older])
    # the published release stayed: the new build did not install, whatever else is offered
    published = Offer(PUBLISHED_REPO, "nginx-0:1.22.1-1.el8.x86_64")
    why = explain("nginx", OURS, published.nevra, [mine, published], [mine, published])
    assert "pkgrun's own older release, stayed" in why and "did not resolve" in why


@pytest.mark.parametrize(
    "line",
    [
        "epel\tnginx-1:1.20.1-10.el7.x86_64\x1b[2J",
        "ep\x1bel\tnginx-1:1.20.1-10.el7.x86_64",
        "epel\tnginx 1:1.20.1-10.el7.x86_64",
        "\tnginx-1:1.20.1-10.el7.x86_64",
    ],
)
def test_offers_that_are_not_repo_and_nevra_are_left_out(line: str) -> None:
    assert parse_offers(line) == []
    assert parse_offers("epel\tnginx-1:1.20.1-10.el7.x86_64\n" + line) == [
        Offer("epel", "nginx-1:1.20.1-10.el7.x86_64")
    ]


def test_the_local_shim_owns_el_s_filesystem_directories() -> None:
    config = shim_config(["libc6"])
    owned = {c["dst"] for c in config["contents"] if c["type"] == "dir"}  # type: ignore[index,union-attr]
    assert {"/etc/sysconfig", "/usr/lib64/pkgconfig", "/usr/local/share/man/man1"} <= owned
    assert owned == set(EL_FILESYSTEM_DIRS) and len(owned) == len(EL_FILESYSTEM_DIRS)


def test_a_site_registry_qualifies_every_el_image() -> None:
    """Short names resolve through each engine's own configuration; with PKGRUN_REGISTRY set,
    podman and docker are given the very same reference."""
    site = resolve({}, {"HOME": "/nonexistent", "PKGRUN_REGISTRY": "registry.example.internal:5000/mirror/"})
    for name, target in TARGETS.items():
        qualified_target = site.target(name)
        if target.containerfile is None:  # local: an image made here, never pulled
            assert qualified_target.from_image == target.base_image
            continue
        assert qualified_target.from_image == f"registry.example.internal:5000/mirror/{target.base_image}"
        for file in (target.containerfile, target.runtime_containerfile):
            assert file is not None
            froms = [
                line
                for line in containerfile_text(file, (), qualified_target.registry).splitlines()
                if line.startswith("FROM ")
            ]
            assert froms == [f"FROM {qualified_target.from_image}"]
            assert base_image_tag(qualified_target, file) != base_image_tag(target, file)


@pytest.mark.parametrize(
    "value", ["https://registry.example.internal", "a b", "host/Path", "host:port", "h/x:tag"]
)
def test_a_bad_registry_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="PKGRUN_REGISTRY"):
        resolve({}, {"HOME": "/nonexistent", "PKGRUN_REGISTRY": value})
