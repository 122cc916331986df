"""The nightly job over several build hosts, each a container engine reached through its API:
two `podman system service` processes with storages of their own, and a dockerd on its own
socket. Their sockets are the only "network" between pkgrun and its hosts: nothing is shared
but what pkgrun copies in and out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import TEST_RECIPES, TEST_SOURCES, TESTS
from helpers import key_vars, podman_service
from pkgrun.repo.data import read_index
from pkgrun.rpm.header import content_digest


def hosts_toml(*hosts: tuple[str, str, str]) -> str:
    text = '[nightly]\ntargets = ["local"]\n'
    for name, engine, url in hosts:
        text += f'[[hosts]]\nname = "{name}"\nengine = "{engine}"\nurl = "{url}"\nbuilds = 1\n'
    return text


def start_nightly(project: Path, cache: Path, mirror: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **key_vars(),
        "PKGRUN_CACHE_DIR": str(cache),
        "XDG_STATE_HOME": str(project / "state"),
        "PKGRUN_REPO": str(project / "repo"),
    }
    env.pop("CONTAINER_HOST", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pkgrun",
            "nightly",
            "--mirror",
            str(mirror),
            "--out",
            str(project / "out"),
            "--json",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_seed_recipes_over_two_hosts_are_the_local_build_s_packages(
    podman: str, seed_packages: dict, mirror: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(TESTS.parent / "recipes", project / "recipes")
    with podman_service() as (a, _), podman_service() as (b, _):
        (project / "pkgrun.toml").write_text(hosts_toml(("a", "podman", a), ("b", "podman", b)))
        process = start_nightly(project, seed_packages["cache"], mirror)
        out, err = process.communicate(timeout=3600)
        assert process.returncode == 0, err[-5000:]
        for url in (a, b):  # every container on the hosts went away
            left = subprocess.run(
                [
                    "podman",
                    "--url",
                    url,
                    "ps",
                    "--all",
                    "--filter",
                    "label=io.pkgrun.recipe",
                    "--format",
                    "{{.Names}}",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert left.split() == []
    report = json.loads(out)
    builds = {b["recipe"]: b for b in report["builds"]}
    assert {name: b["status"] for name, b in builds.items()} == dict.fromkeys(
        ("nginx", "php", "supervisor"), "built"
    )
    assert {b["host"] for b in builds.values()} == {"a", "b"}  # both hosts used
    assert {h["name"]: h["builds"] for h in report["hosts"]} == {
        name: sum(b["host"] == name for b in builds.values()) for name in ("a", "b")
    }
    # The same inputs digest on either host as on this machine: each build found the compile the
    # local build kept (its key covers the build image's identity), and records the same inputs.
    for name, build in builds.items():
        assert "compile reused (key " in build["reason"], (name, build["reason"])
        assert build["copied"]["in_bytes"] > 0 and build["copied"]["out_bytes"] > 0
    local_index = read_index(seed_packages["repo"] / "local")
    hosts_index = read_index(project / "repo" / "local")
    assert sorted(hosts_index) == sorted(local_index) and len(hosts_index) == 3
    for key, entry in hosts_index.items():
        assert entry["digest"] == local_index[key]["digest"], key
    # and the same packages: header and payload byte for byte (the signatures are made here)
    for name, built in seed_packages["built"].items():
        ours = project / "repo" / "local" / "x86_64" / Path(built["rpm"]).name
        assert content_digest(ours) == content_digest(Path(built["rpm"])), name


def test_a_host_that_dies_mid_run_has_its_build_retried_on_another(
    podman: str, docker: str, tmp_path: Path, cache_dir: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(TEST_RECIPES / "nightly", project / "recipes")
    for script in (project / "recipes").glob("*/build.sh"):  # long enough to be caught mid-build
        script.write_text(script.read_text().replace("#!/bin/bash\n", "#!/bin/bash\nsleep 8\n", 1))
    docker_url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    with podman_service() as (a, service):
        (project / "pkgrun.toml").write_text(hosts_toml(("a", "podman", a), ("d", "docker", docker_url)))
        process = start_nightly(project, cache_dir, TEST_SOURCES)
        # a build is running on a (its container is up): a's engine dies under it
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            running = subprocess.run(
                ["podman", "--url", a, "ps", "--filter", "label=io.pkgrun.recipe", "--format", "{{.Names}}"],
                capture_output=True,
                text=True,
            ).stdout.split()
            if running:
                time.sleep(2)
                service.kill()
                service.wait()
                break
            time.sleep(0.5)
        if service.returncode is None:
            out, err = process.communicate(timeout=1800)
            raise AssertionError("no build ran on host a: " + err[:3000])
        out, err = process.communicate(timeout=1800)
    assert process.returncode == 0, err[-5000:]
    report = json.loads(out)
    builds = {b["recipe"]: b for b in report["builds"]}
    assert {name: b["status"] for name, b in builds.items()} == dict.fromkeys(
        ("alpha", "beta", "gamma"), "built"
    )
    retried = [b for b in builds.values() if b["retried"]]
    assert retried, builds
    for build in retried:
        assert build["host"] == "d"
        assert build["retried"][0].startswith("a went down during the build (")
        assert build["retried"][0].endswith("; tried again on d")
    hosts = {h["name"]: h for h in report["hosts"]}
    assert hosts["a"]["down"] and hosts["d"]["down"] is None
    published = sorted(p.name for p in (project / "repo" / "local" / "x86_64").glob("*.rpm"))
    assert published == [f"{name}-1.0-1.local.noarch.rpm" for name in ("alpha", "beta", "gamma")]
    page = (project / "reports" / "latest" / "report.html").read_text()
    assert "a went down during the build (" in page and "; tried again on d" in page
    assert "trying another" in err  # said as it happened
