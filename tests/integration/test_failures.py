"""What happens when things go wrong: nothing is left behind and the user is told why."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import TEST_RECIPES, hello_build, pkgrun_containers
from pkgrun.cli.main import main


def build_hello(scenario: str, env: dict[str, str], out: Path, *extra: str) -> list[str]:
    return hello_build(TEST_RECIPES / scenario, out, *extra)


def test_failing_build_step(podman, build_env, tmp_path, capsys, no_leftover_containers) -> None:
    code = main(build_hello("failing", build_env, tmp_path, "--engine", podman), env=build_env)
    err = capsys.readouterr().err
    assert code == 1
    assert "hello: run build.sh: failed" in err
    assert "PKGRUN-TEST-MARKER the build breaks here" in err  # the log's tail
    logs = list((tmp_path / "state" / "pkgrun" / "logs").glob("hello-1.0-4.local-*.log"))
    assert len(logs) == 1 and f"full log: {logs[0]}" in err
    assert "PKGRUN-TEST-MARKER" in logs[0].read_text()
    assert list(tmp_path.glob("*.rpm")) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pkgrun-")] == []


def test_checksum_mismatch_starts_no_container(
    podman, build_env, tmp_path, capsys, no_leftover_containers
) -> None:
    cache = Path(build_env["PKGRUN_CACHE_DIR"]) / "sources"
    code = main(build_hello("checksum", build_env, tmp_path, "--engine", podman), env=build_env)
    err = capsys.readouterr().err
    assert code == 1
    assert "checksum mismatch for hello-1.0.tar.gz" in err
    assert "expected sha256 1111111111111111111111111111111111111111111111111111111111111111" in err
    assert "got 0ba496eb1d89fcdbb3b923b78692e0d3beff1956f8c3279d3f4401c472111c14" in err
    assert "prepare the build image" not in err and "container" not in err
    # the download is deleted (a date kept from another file of that name is keyed by its checksum)
    assert [p.name for p in cache.glob("hello-1.0.tar.gz*") if not p.name.endswith(".date-epoch")] == []


def test_missing_engine_is_an_error_before_any_work(build_env, tmp_path) -> None:
    # a PATH with the shells (recipe checks use them) and no container engine
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "bash"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    env = dict(build_env, PATH=str(bin_dir))
    for engine in ("docker", "podman"):
        result = subprocess.run(
            [sys.executable, "-m", "pkgrun", *build_hello("good", env, tmp_path, "--engine", engine)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2, result.stderr
        assert f"{engine} not found on PATH" in result.stderr
        assert "fetch" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pkgrun", *build_hello("good", env, tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no container engine found: neither podman nor docker is on PATH" in result.stderr


def test_missing_packager_is_an_error_before_any_work(podman, build_env, tmp_path, capsys) -> None:
    code = main(
        build_hello("good", build_env, tmp_path, "--engine", podman, "--packager", "fpm"), env=build_env
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "the local build image carries no fpm" in err
    assert "use --packager nfpm" in err
    assert "fetch" not in err


def test_ctrl_c_removes_the_container(podman, build_env, tmp_path) -> None:
    command = [sys.executable, "-m", "pkgrun", *build_hello("slow", build_env, tmp_path, "--engine", podman)]
    process = subprocess.Popen(
        command,
        env=build_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C as at a terminal, even when these tests run where SIGINT is ignored (a background
        # job of a script inherits that, and a Python started so leaves it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 300
        while not pkgrun_containers(podman, owner=process.pid):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the build never started a container"
            time.sleep(0.5)
        time.sleep(2)  # let the build step start sleeping inside the container
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "interrupted" in output
    assert pkgrun_containers(podman, owner=process.pid) == []
    assert list(tmp_path.glob("*.rpm")) == []


def test_recipe_values_are_data_not_shell(
    podman, build_env, tmp_path, capsys, no_leftover_containers
) -> None:
    marker = Path("/tmp/pkgrun-injected")
    marker.unlink(missing_ok=True)
    code = main(build_hello("injection", build_env, tmp_path, "--engine", podman), env=build_env)
    assert code == 0, capsys.readouterr().err
    assert not marker.exists()
    rpm = tmp_path / "hello-1.0-4.local.noarch.rpm"
    query = subprocess.run(
        ["rpm", "-qp", "--qf", "%{SUMMARY}\n%{VENDOR}\n[%{FILENAMES}\n]", str(rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "Says 'hello' $(touch /tmp/pkgrun-injected) `touch /tmp/pkgrun-injected` \"quoted\"; exit 1" in query
    )
    assert "pkgrun tests; touch /tmp/pkgrun-injected" in query
    assert "/usr/share/hello/$(touch /tmp/pkgrun-injected) it's.txt" in query
