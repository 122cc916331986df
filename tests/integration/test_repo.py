"""The yum repository, as dnf sees it: exact contents, atomic updates, locking, retention."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import need_tool, publish_argv
from helpers import key_env, make_rpm
from pkgrun.cli.main import main
from pkgrun.rpm.header import content_digest

# publishes sign, with the tests' throwaway key
SIGNED = {**os.environ, **key_env()}


@pytest.fixture
def dnf() -> str:
    need_tool("rpm")
    return need_tool("dnf")


def dnf_list(repo_dir: Path, cache: Path) -> list[str]:
    """The NEVRAs dnf reads from the repository at ``repo_dir``; fails when dnf cannot read it."""
    result = subprocess.run(
        [
            "dnf",
            "-q",
            f"--setopt=cachedir={cache}",
            "--setopt=reposdir=/nonexistent",
            "--releasever=12",
            f"--repofrompath=t,{repo_dir.resolve().as_uri()}",
            "--repo=t",
            "--setopt=t.gpgcheck=0",
            "repoquery",
            "--qf",
            "%{name}-%{epoch}:%{version}-%{release}.%{arch}",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def publish(repo: Path, *rpms: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(publish_argv(repo, *rpms, extra=extra), capture_output=True, text=True, env=SIGNED)


def test_dnf_lists_exactly_what_was_published(dnf, tmp_path, capsys) -> None:
    rpms = [
        make_rpm(tmp_path / "rpms", "alpha"),
        make_rpm(tmp_path / "rpms", "beta", "2.0", "3.local"),
        make_rpm(tmp_path / "rpms", "gamma", arch="noarch"),
    ]
    code = main(
        ["publish", "--repo", str(tmp_path / "repo"), "--target", "local", "--json", *map(str, rpms)],
        env=key_env(),
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["action"] for p in report["published"]] == ["added"] * 3
    assert dnf_list(tmp_path / "repo" / "local" / "x86_64", tmp_path / "cache") == [
        "alpha-0:1.0-1.local.x86_64",
        "beta-0:2.0-3.local.x86_64",
        "gamma-0:1.0-1.local.noarch",
    ]
    assert (tmp_path / "repo" / "local" / "pkgrun.repo").read_text().startswith("[pkgrun-local]\n")
    code = main(["repo", "list", "--repo", str(tmp_path / "repo"), "--json"], env=key_env())
    listed = json.loads(capsys.readouterr().out)
    assert [row["nevra"] for row in listed] == [
        "alpha-0:1.0-1.local.x86_64",
        "beta-0:2.0-3.local.x86_64",
        "gamma-0:1.0-1.local.noarch",
    ]
    assert all(row["size"] > 0 and row["dist"] == "local" for row in listed)


def test_a_published_nevra_never_changes(dnf, tmp_path) -> None:
    repo = tmp_path / "repo"
    first = make_rpm(tmp_path / "a", "alpha", payload="first build")
    second = make_rpm(tmp_path / "b", "alpha", payload="second build")  # same NEVRA, other bytes
    assert publish(repo, first).returncode == 0
    assert publish(repo, first).returncode == 0  # the same file again: nothing to do
    clash = publish(repo, second)
    assert clash.returncode == 2
    assert "alpha-0:1.0-1.local.x86_64 is already published as a different file" in clash.stderr
    assert "raise the iteration (--iteration)" in clash.stderr and "--force" in clash.stderr
    published = repo / "local" / "x86_64" / first.name
    assert content_digest(published) == content_digest(first)  # the first, as signed
    forced = publish(repo, second, extra=("--force",))
    assert forced.returncode == 0 and "replaced" in forced.stdout
    assert content_digest(published) == content_digest(second)
    assert dnf_list(repo / "local" / "x86_64", tmp_path / "cache") == ["alpha-0:1.0-1.local.x86_64"]


def test_retention_keeps_the_newest_releases(dnf, tmp_path) -> None:
    repo = tmp_path / "repo"
    # releases 1..12 in publishing order 12, 1, 2 ...: rpm's order (10 > 9), not the file names'
    beta = make_rpm(tmp_path / "rpms", "beta")
    for release in (12, *range(1, 12)):
        rpm = make_rpm(tmp_path / "rpms", "alpha", release=f"{release}.local")
        assert publish(repo, rpm, beta, extra=("--keep", "3")).returncode == 0
    arch_dir = repo / "local" / "x86_64"
    assert sorted(p.name for p in arch_dir.glob("*.rpm")) == [
        "alpha-1.0-10.local.x86_64.rpm",
        "alpha-1.0-11.local.x86_64.rpm",
        "alpha-1.0-12.local.x86_64.rpm",
        "beta-1.0-1.local.x86_64.rpm",
    ]
    assert dnf_list(arch_dir, tmp_path / "cache") == [
        "alpha-0:1.0-10.local.x86_64",
        "alpha-0:1.0-11.local.x86_64",
        "alpha-0:1.0-12.local.x86_64",
        "beta-0:1.0-1.local.x86_64",
    ]


def test_el7_metadata_is_gzip(tmp_path) -> None:
    need_tool("rpm")
    repo = tmp_path / "repo"
    rpm = make_rpm(tmp_path / "rpms", "alpha", release="1.el7")
    assert main(["publish", "--repo", str(repo), "--target", "el7", str(rpm)], env=key_env()) == 0
    repodata = repo / "el7" / "x86_64" / "repodata"
    root = ElementTree.parse(repodata / "repomd.xml").getroot()
    hrefs = [loc.get("href") for loc in root.iter("{http://linux.duke.edu/metadata/repo}location")]
    assert sorted(Path(str(h)).name.split("-", 1)[1] for h in hrefs) == [
        "filelists.xml.gz",
        "other.xml.gz",
        "primary.xml.gz",
    ]
    for href in hrefs:
        with gzip.open(repo / "el7" / "x86_64" / str(href)) as fh:  # really gzip
            assert fh.read(5) == b"<?xml"
    assert "baseurl=file://" in (repo / "el7" / "pkgrun.repo").read_text()


def test_four_concurrent_publishers(dnf, tmp_path) -> None:
    repo = tmp_path / "repo"
    batches = [[make_rpm(tmp_path / f"p{i}", f"pkg{i}x{j}") for j in range(5)] for i in range(4)]
    processes = [
        subprocess.Popen(
            publish_argv(repo, *batch),
            env=SIGNED,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch in batches
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
    assert any("waiting for the repository lock" in err for _, err in outputs)
    expected = sorted(f"pkg{i}x{j}-0:1.0-1.local.x86_64" for i in range(4) for j in range(5))
    assert dnf_list(repo / "local" / "x86_64", tmp_path / "cache") == expected


def test_a_publish_killed_at_any_moment_leaves_old_or_new(dnf, tmp_path) -> None:
    repo = tmp_path / "repo"
    arch_dir = repo / "local" / "x86_64"
    old = [make_rpm(tmp_path / "old", f"base{j}") for j in range(30)]
    assert publish(repo, *old).returncode == 0
    old_set = dnf_list(arch_dir, tmp_path / "cache0")
    # how long an undisturbed publish of the new batch takes, to spread the kills over it
    probe_repo = tmp_path / "probe"
    assert publish(probe_repo, *old).returncode == 0
    new = [make_rpm(tmp_path / "new", f"fresh{j}") for j in range(10)]
    started = time.monotonic()
    assert publish(probe_repo, *new).returncode == 0
    duration = time.monotonic() - started

    rng = random.Random(20261127)
    outcomes = {"old": 0, "new": 0}
    state = old_set
    for run in range(24):
        batch = [make_rpm(tmp_path / f"new{run}", f"fresh{run}x{j}") for j in range(3)]
        process = subprocess.Popen(
            publish_argv(repo, *batch),
            env=SIGNED,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0, duration * 1.1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        seen = dnf_list(arch_dir, tmp_path / f"cache{run + 1}")  # fails if dnf cannot read it
        with_batch = sorted(state + [f"fresh{run}x{j}-0:1.0-1.local.x86_64" for j in range(3)])
        assert seen in (state, with_batch), f"run {run}: a mix of old and new"
        outcomes["old" if seen == state else "new"] += 1
        state = seen
    # the kills landed at different moments: some before the switch, some after
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes
