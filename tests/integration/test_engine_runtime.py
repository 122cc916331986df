"""pkgrun sets up this machine's podman itself: with crun installed (podman's first choice) and
no containers.conf naming runc, a build runs where crun refuses the host's cgroups."""

from __future__ import annotations

import subprocess
from pathlib import Path

import plumbum
import pytest

from conftest import TEST_RECIPES, hello_build, need_tool
from pkgrun.cli.main import main
from pkgrun.engine.oci_runtime import CONTROLLERS, MOUNTINFO, Layout, cgroup_layout, needs_fallback


def test_a_build_with_podmans_own_runtime_choice(
    podman: str,
    build_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_leftover_containers: None,
) -> None:
    need_tool("crun")
    # what a user's machine has: podman with crun, its first choice when installed, and no
    # containers.conf naming runc (the Makefile names one for the tests' own podman commands;
    # this one, which replaces every other, says crun, whatever this machine's files say)
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "crun"\n')
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    # pkgrun's processes start with plumbum's copy of the environment, taken at its import
    monkeypatch.setitem(plumbum.local.env, "CONTAINERS_CONF", str(conf))
    build_env["CONTAINERS_CONF"] = str(conf)
    default = subprocess.run(
        [podman, "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert default == "crun"
    layout = cgroup_layout(MOUNTINFO.read_text())
    hybrid = needs_fallback(layout, "crun", CONTROLLERS.read_text() if layout is Layout.HYBRID else "")

    argv = hello_build(TEST_RECIPES / "good", tmp_path / "out", "--engine", podman, "--no-publish")
    code = main(argv, env=build_env)
    err = capsys.readouterr().err
    assert code == 0, err
    note = "note: podman's runtime crun refuses this host's cgroups"
    assert err.count(note) == (1 if hybrid else 0)
    assert list((tmp_path / "out").glob("hello-1.0-*.rpm"))
    # what pkgrun spared the user where it chose: podman's own choice fails there, runs elsewhere
    refused = subprocess.run(
        [podman, "run", "--rm", "--ulimit", "nofile=1024:4096", "--ulimit", "nproc=4096:8192",
         "localhost/pkgrun-local:bookworm", "true"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (refused.returncode != 0) is hybrid, refused.stderr
    if hybrid:
        assert "cgroups in hybrid mode not supported" in refused.stderr
