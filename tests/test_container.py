"""Container engine command lines (golden argv) and what pkgrun says when an engine refuses."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from pkgrun.config.settings import ulimits_from
from pkgrun.engine.container import (
    ContainerStartFailed,
    Engine,
    EngineName,
    build_argv,
    copy_in_argv,
    copy_out_argv,
    detect_engine,
    exec_argv,
    image_id_argv,
    import_argv,
    remove_argv,
    run_detached_argv,
    start_container,
)
from pkgrun.engine.ulimits import PORTABLE_ULIMITS, host_ulimits
from pkgrun.errors import CommandFailed, UsageError

PODMAN = Engine(EngineName.PODMAN, ulimits=("nofile=1024:4096", "nproc=4096:8192"))
DOCKER = Engine(EngineName.DOCKER, ulimits=("nofile=10:20",))


def test_run_detached_argv() -> None:
    argv = run_detached_argv(
        PODMAN,
        "pkgrun-demo-1234",
        "localhost/img:1",
        labels={"io.pkgrun.recipe": "demo"},
        volumes=[("pkgrun-ccache-el7", "/pkgrun/ccache")],
    )
    assert argv == [
        "podman", "run", "--detach", "--name", "pkgrun-demo-1234", "--network=none", "--stop-signal=KILL",
        "--hostname", "pkgrun", "--ulimit", "nofile=1024:4096", "--ulimit", "nproc=4096:8192",
        "--label", "io.pkgrun.recipe=demo",
        "--volume", "pkgrun-ccache-el7:/pkgrun/ccache",
        "--entrypoint", "sleep", "localhost/img:1", "infinity",
    ]  # fmt: skip


def test_copy_argv() -> None:
    assert copy_in_argv(PODMAN, "c1") == ["podman", "cp", "-", "c1:/"]
    assert copy_out_argv(DOCKER, "c1", "/pkgrun/out/x.rpm") == ["docker", "cp", "c1:/pkgrun/out/x.rpm", "-"]


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
    monkeypatch.setattr("pkgrun.engine.container.find_tool", lambda name, hint=None: f"/usr/bin/{name}")
    assert detect_engine("podman", {}).ulimits == host_ulimits()
    remote = detect_engine("podman", {"podman": "unix:///run/x.sock"})
    assert remote.ulimits == PORTABLE_ULIMITS and remote.url == "unix:///run/x.sock"
    assert detect_engine("docker", {"docker": "unix:///run/d.sock"}).ulimits == PORTABLE_ULIMITS
    assert detect_engine("podman", {}, ("nofile=64:128",)).ulimits == ("nofile=64:128",)


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


# --- a container always goes away (a fake engine records what pkgrun asks of it) -------------------


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path).install(monkeypatch)


def test_removed_after_success(engine: FakeEngine, tmp_path: Path) -> None:
    with start_container(PODMAN, "demo", "img") as container:
        container.exec(["true"], log=tmp_path / "log")
    assert engine.removed == engine.started() == [container.name]
    assert container.name.startswith("pkgrun-demo-")


def test_removed_when_a_step_fails(engine: FakeEngine, tmp_path: Path) -> None:
    engine.fail = lambda argv: 2 if "exec" in argv else None
    with (
        pytest.raises(CommandFailed, match="make failed"),
        start_container(PODMAN, "demo", "img") as container,
    ):
        container.exec(["make", "all"], log=tmp_path / "log", what="make")
    assert engine.removed == [container.name]


def test_removed_on_ctrl_c(engine: FakeEngine, tmp_path: Path) -> None:
    engine.fail = lambda argv: KeyboardInterrupt() if "exec" in argv else None
    with pytest.raises(KeyboardInterrupt), start_container(PODMAN, "demo", "img") as container:
        container.exec(["sleep", "100"], log=tmp_path / "log")
    assert engine.removed == [container.name]


def test_removed_when_the_start_fails_half_way(engine: FakeEngine) -> None:
    # the engine may have made the container before it failed to start it
    engine.fail = lambda argv: 126 if "run" in argv else None
    with pytest.raises(ContainerStartFailed), start_container(PODMAN, "demo", "img"):
        pass
    assert len(engine.removed) == 1 and engine.removed[0].startswith("pkgrun-demo-")


def test_kept_when_asked(engine: FakeEngine) -> None:
    with start_container(PODMAN, "demo", "img", keep=True):
        pass
    assert engine.removed == []


def test_files_go_in_and_come_out_as_archives(engine: FakeEngine, tmp_path: Path) -> None:
    from pkgrun.archive import Item

    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "build.sh").write_text("make\n")
    (recipe / "link").symlink_to("build.sh")
    with start_container(PODMAN, "demo", "img") as container:
        container.put([Item("/pkgrun/out/x.rpm", data=b"rpm bytes")], trees=[(recipe, "/pkgrun/recipe")])
        inside = engine.containers[container.name]
        assert (inside / "pkgrun/recipe/build.sh").read_text() == "make\n"
        assert os.readlink(inside / "pkgrun/recipe/link") == "build.sh"
        container.get("/pkgrun/out/x.rpm", tmp_path / "x.rpm")
        with pytest.raises(CommandFailed):
            container.get("/pkgrun/out/missing.rpm", tmp_path / "missing.rpm")
    assert (tmp_path / "x.rpm").read_bytes() == b"rpm bytes"
    assert not (tmp_path / "missing.rpm").exists()
