"""Container engine command lines (golden argv) and what pkgrun says when an engine refuses."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from pkgrun.container import (
    PORTABLE_ULIMITS,
    ContainerStartFailed,
    Engine,
    EngineName,
    Mount,
    build_argv,
    detect_engine,
    exec_argv,
    host_ulimits,
    image_id_argv,
    import_argv,
    remove_argv,
    run_detached_argv,
    ulimits_from,
)
from pkgrun.errors import UsageError

PODMAN = Engine(EngineName.PODMAN, ulimits=("nofile=1024:4096", "nproc=4096:8192"))
DOCKER = Engine(EngineName.DOCKER, ulimits=("nofile=10:20",))


def test_run_detached_argv() -> None:
    argv = run_detached_argv(
        PODMAN,
        "pkgrun-demo-1234",
        "localhost/img:1",
        [Mount(Path("/src"), "/pkgrun/recipe"), Mount(Path("/out"), "/pkgrun/out", read_only=False)],
        labels={"io.pkgrun.recipe": "demo"},
    )
    assert argv == [
        "podman", "run", "--detach", "--name", "pkgrun-demo-1234", "--network=none", "--stop-signal=KILL",
        "--ulimit", "nofile=1024:4096", "--ulimit", "nproc=4096:8192",
        "--label", "io.pkgrun.recipe=demo",
        "--mount", "type=bind,source=/src,target=/pkgrun/recipe,readonly",
        "--mount", "type=bind,source=/out,target=/pkgrun/out",
        "--entrypoint", "sleep", "localhost/img:1", "infinity",
    ]  # fmt: skip


def test_remote_podman_and_docker_argv() -> None:
    remote = Engine(EngineName.PODMAN, url="unix:///run/b.sock", ulimits=())
    assert exec_argv(remote, "c1", ["true"], env={"A": "1"}, workdir="/w") == [
        "podman", "--url", "unix:///run/b.sock", "exec", "--env", "A=1", "--workdir", "/w", "c1", "true",
    ]  # fmt: skip
    assert remove_argv(DOCKER, "c1") == ["docker", "rm", "--force", "c1"]
    remote_docker = Engine(EngineName.DOCKER, url="ssh://builder@host2")
    assert remove_argv(remote_docker, "c1") == [
        "docker",
        "--host",
        "ssh://builder@host2",
        "rm",
        "--force",
        "c1",
    ]
    assert image_id_argv(DOCKER, "x:1") == ["docker", "image", "inspect", "--format", "{{.Id}}", "x:1"]
    assert import_argv(DOCKER, Path("/t/rootfs.tar"), "x:1") == ["docker", "import", "/t/rootfs.tar", "x:1"]


def test_build_argv_carries_the_limits() -> None:
    assert build_argv(DOCKER, "x:1", Path("/c/Containerfile"), Path("/c")) == [
        "docker", "build", "--network=host", "--ulimit", "nofile=10:20",
        "--tag", "x:1", "--file", "/c/Containerfile", "/c",
    ]  # fmt: skip


def test_host_limits_never_exceed_the_hard_limits() -> None:
    limits = dict(value.split("=") for value in host_ulimits())
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = map(int, limits[name].split(":"))
        host_hard = resource.getrlimit(which)[1]
        assert soft <= hard
        assert host_hard == resource.RLIM_INFINITY or hard <= host_hard


def test_limits_by_where_the_engine_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pkgrun.container.find_tool", lambda name, hint=None: f"/usr/bin/{name}")
    assert detect_engine("podman", {}).ulimits == host_ulimits()
    assert detect_engine("podman", {"CONTAINER_HOST": "unix:///run/x.sock"}).ulimits == PORTABLE_ULIMITS
    assert detect_engine("docker", {"DOCKER_HOST": "unix:///run/d.sock"}).ulimits == PORTABLE_ULIMITS
    assert detect_engine("podman", {"PKGRUN_ULIMITS": "nofile=64:128"}).ulimits == ("nofile=64:128",)


@pytest.mark.parametrize("text", ["nofile", "nofile=a:b", "core=1:2", "nofile=1:2:3"])
def test_bad_limits_are_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="PKGRUN_ULIMITS"):
        ulimits_from(text)


@pytest.mark.parametrize(
    ("output", "says", "hint"),
    [
        (
            "Error: runc: runc create failed: unable to start container process: error during container "
            "init: error setting rlimits for ready process: error setting rlimit type 7: operation not "
            "permitted: OCI permission denied",
            "error setting rlimit type 7",
            "PKGRUN_ULIMITS",
        ),
        ("Error: crun: cannot set limits: cgroup v1 ...", "cgroup v1", "runc"),
        ("Error: localhost/x:1: image not known", "image not known", "made on first use"),
    ],
)
def test_a_refused_start_says_why_and_what_to_do(output: str, says: str, hint: str) -> None:
    error = ContainerStartFailed(PODMAN, "localhost/x:1", "some noise\n" + output + "\n")
    assert error.message.startswith("podman could not start a container from localhost/x:1: ")
    assert says in error.message
    assert error.hint is not None and hint in error.hint
