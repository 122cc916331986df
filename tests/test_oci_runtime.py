"""The OCI runtime pkgrun has this machine's podman run: podman's own, runc where crun refuses the
host's cgroups (said once), or PKGRUN_RUNTIME's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pkgrun.engine.oci_runtime
from fake_engine import FakeEngine
from pkgrun.cli.main import main
from pkgrun.engine.container import Engine, EngineName, run_detached_argv
from pkgrun.engine.oci_runtime import Layout, cgroup_layout, needs_fallback, settle_runtime
from pkgrun.errors import ToolNotFound, UsageError
from test_commands import env, project  # noqa: F401 (a fixture)

# /proc/self/mountinfo lines of the three layouts (systemd's hybrid one is the CI machines')
MOUNTS = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
HYBRID = MOUNTS + (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)
UNIFIED = MOUNTS + "31 23 0:28 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
LEGACY = MOUNTS + "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
# what the kernel enabled in a hybrid host's cgroup2 hierarchy (the CI machines': hugetlb)
CONTROLLERS = "hugetlb\n"


def test_the_layout_a_mountinfo_describes() -> None:
    assert cgroup_layout(HYBRID) is Layout.HYBRID
    assert cgroup_layout(UNIFIED) is Layout.UNIFIED
    assert cgroup_layout(LEGACY) is Layout.LEGACY
    assert cgroup_layout(MOUNTS) is Layout.NONE
    # a mount point named like a file system type is not one
    assert cgroup_layout(MOUNTS + "50 27 0:40 / /srv/cgroup2 rw - ext4 /dev/vdb rw\n") is Layout.NONE
    # crun looks at /sys/fs/cgroup/unified only: a cgroup2 mounted elsewhere beside v1 is legacy
    elsewhere = HYBRID.replace("/sys/fs/cgroup/unified", "/run/cgroup2")
    assert cgroup_layout(elsewhere) is Layout.LEGACY
    # the last mount on a point is the one seen: cgroup2 over the tmpfs is unified
    over = HYBRID + "42 23 0:39 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert cgroup_layout(over) is Layout.UNIFIED


def test_only_crun_on_a_hybrid_host_with_v2_controllers_needs_another_runtime() -> None:
    assert needs_fallback(Layout.HYBRID, "crun", CONTROLLERS)
    assert needs_fallback(Layout.HYBRID, "/usr/bin/crun", "cpu memory pids")
    assert not needs_fallback(Layout.HYBRID, "runc", CONTROLLERS)
    # crun runs a hybrid host whose cgroup2 hierarchy has no controller (it only tracks processes)
    assert not needs_fallback(Layout.HYBRID, "crun", "") and not needs_fallback(Layout.HYBRID, "crun", "\n")
    others = (Layout.UNIFIED, Layout.LEGACY, Layout.NONE)
    assert not any(needs_fallback(layout, "crun", CONTROLLERS) for layout in others)


def test_the_runtime_is_a_global_flag_of_every_podman_command() -> None:
    engine = Engine(EngineName.PODMAN, runtime="runc", ulimits=())
    assert run_detached_argv(engine, "c", "img")[:4] == ["podman", "--runtime", "runc", "run"]
    assert Engine(EngineName.PODMAN, ulimits=()).argv("info") == ["podman", "info"]


def _mountinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def controllers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hybrid hierarchy's cgroup.controllers the tests' hosts have, whatever this one's says."""
    path = tmp_path / "cgroup.controllers"
    path.write_text(CONTROLLERS)
    monkeypatch.setattr(pkgrun.engine.oci_runtime, "CONTROLLERS", path)
    return path


def test_crun_on_a_hybrid_host_becomes_runc(engine: FakeEngine, tmp_path: Path) -> None:
    engine.runtime = "crun"
    settled = settle_runtime(Engine(EngineName.PODMAN), None, _mountinfo(tmp_path, HYBRID))
    assert settled.runtime == "runc"
    assert settled.runtime_note == (
        "podman's runtime crun refuses this host's cgroups (hybrid: cgroup v1 controllers with a cgroup "
        "v2 hierarchy beside them, the cgroup v2 one with controllers: hugetlb): pkgrun runs podman with "
        "--runtime runc (PKGRUN_RUNTIME chooses another)"
    )
    # the same choice on a host where crun runs, or where podman runs runc already: none
    calls = len(engine.calls)
    assert settle_runtime(Engine(EngineName.PODMAN), None, _mountinfo(tmp_path, UNIFIED)).runtime is None
    assert len(engine.calls) == calls  # not even a question to podman
    engine.runtime = "runc"
    assert settle_runtime(Engine(EngineName.PODMAN), None, _mountinfo(tmp_path, HYBRID)).runtime is None
    # a hybrid host whose cgroup v2 hierarchy has no controllers: crun runs there, nothing asked
    engine.runtime, calls = "crun", len(engine.calls)
    empty = tmp_path / "empty.controllers"
    empty.write_text("")
    assert (
        settle_runtime(Engine(EngineName.PODMAN), None, _mountinfo(tmp_path, HYBRID), empty).runtime is None
    )
    assert len(engine.calls) == calls


def test_no_runc_where_it_is_needed_fails_before_any_work(engine: FakeEngine, tmp_path: Path) -> None:
    engine.runtime, engine.runtimes = "crun", {"crun"}
    with pytest.raises(ToolNotFound) as caught:
        settle_runtime(Engine(EngineName.PODMAN), None, _mountinfo(tmp_path, HYBRID))
    assert "podman's runtime crun refuses this host's cgroups" in caught.value.message
    assert "podman finds no runc" in caught.value.message
    assert caught.value.hint and "install runc" in caught.value.hint
    assert not engine.started()


def test_pkgrun_runtime_overrides_and_is_checked(engine: FakeEngine, tmp_path: Path) -> None:
    engine.runtime = "crun"
    hybrid = _mountinfo(tmp_path, HYBRID)
    chosen = settle_runtime(Engine(EngineName.PODMAN), "crun", hybrid)
    assert chosen.runtime == "crun" and chosen.runtime_note is None  # the user's word, nothing said
    with pytest.raises(UsageError, match="PKGRUN_RUNTIME=kata is no runtime podman finds"):
        settle_runtime(Engine(EngineName.PODMAN), "kata", hybrid)
    for other in (Engine(EngineName.DOCKER), Engine(EngineName.PODMAN, url="unix:///run/p.sock")):
        assert settle_runtime(other, None, hybrid) == other  # its daemon's or service's runtime
        with pytest.raises(UsageError, match="PKGRUN_RUNTIME=runc is for this machine's podman"):
            settle_runtime(other, "runc", hybrid)


@pytest.mark.usefixtures("pipeline_tools")
def test_a_build_says_once_and_runs_every_command_with_runc(
    engine: FakeEngine,
    project: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine.runtime = "crun"
    monkeypatch.setattr(pkgrun.engine.oci_runtime, "MOUNTINFO", _mountinfo(tmp_path, HYBRID))
    assert main(["build", "hello", "--target", "local", "--json"], env=env(project)) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["published"]
    assert captured.err.count("note: podman's runtime crun refuses this host's cgroups") == 1
    asked = [argv for argv in engine.calls if "info" in argv]
    commands = [argv for argv in engine.calls if argv not in asked and argv[1:2] != ["version"]]
    assert commands and all(argv[1:3] == ["--runtime", "runc"] for argv in commands)
