"""Integration tests: real containers, real sources, real RPMs.

A missing tool or input skips these tests on a developer's machine, with the reason, and fails
them where PKGRUN_REQUIRE_INTEGRATION=1 (CI), so that CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import key_vars
from pkgrun.engine.ulimits import host_ulimits

REQUIRED = os.environ.get("PKGRUN_REQUIRE_INTEGRATION") == "1"
TESTS = Path(__file__).resolve().parent.parent
TEST_RECIPES = TESTS / "recipes"
TEST_SOURCES = TEST_RECIPES / "sources"
LOCAL_IMAGE = "localhost/pkgrun-local:bookworm"
# the limits pkgrun gives its own containers: what this host allows, never an engine's defaults
ULIMITS = [flag for value in host_ulimits() for flag in ("--ulimit", value)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


def need(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) when something an integration test needs is missing."""
    if condition:
        return
    if REQUIRED:
        pytest.fail(f"PKGRUN_REQUIRE_INTEGRATION=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def need_tool(tool: str) -> str:
    path = shutil.which(tool)
    need(path is not None, f"{tool} is not installed")
    assert path is not None
    return path


def engine_works(engine: str) -> bool:
    try:
        return subprocess.run([engine, "info"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def podman() -> str:
    need_tool("podman")
    need(engine_works("podman"), "podman does not run (see .ci/containers.conf for this machine's settings)")
    need_tool("rpm")
    return "podman"


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A docker daemon: the one DOCKER_HOST names when it answers, else a private dockerd that
    the tests start (as root: its own socket, data root and pidfile; no iptables, no bridge,
    since every container runs without a network) and stop at the end of the session."""
    need_tool("docker")
    need_tool("rpm")
    if engine_works("docker"):
        yield "docker"
        return
    dockerd = shutil.which("dockerd")
    need(
        dockerd is not None and os.geteuid() == 0,
        "no docker daemon answers, and no dockerd to start (as root)",
    )
    assert dockerd is not None
    state = tmp_path_factory.mktemp("dockerd")
    socket = state / "docker.sock"
    log = (state / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [dockerd, "--iptables=false", "--bridge=none", "--host", f"unix://{socket}",
         "--data-root", str(state / "data"), "--exec-root", str(state / "exec"),
         "--pidfile", str(state / "docker.pid")],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = f"unix://{socket}"
    try:
        deadline = time.monotonic() + 60
        while not engine_works("docker"):
            if daemon.poll() is not None or time.monotonic() > deadline:
                need(False, "dockerd did not start: " + (state / "dockerd.log").read_text()[-2000:])
            time.sleep(0.5)
        yield "docker"
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        # dockerd leaves its network namespace mounted under the exec root
        subprocess.run(["umount", str(state / "exec" / "netns" / "default")], capture_output=True)
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous


@pytest.fixture(scope="session")
def mirror() -> Path:
    """Debian's orig tarballs under their upstream names (scripts/fetch-test-sources.sh)."""
    value = os.environ.get("PKGRUN_TEST_MIRROR")
    need(
        bool(value) and Path(str(value)).is_dir(),
        "PKGRUN_TEST_MIRROR does not name a directory (run scripts/fetch-test-sources.sh DIR)",
    )
    return Path(str(value))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def build_env(cache_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The environment pkgrun runs with: a shared source cache, logs under the test's tmp."""
    env = dict(os.environ)
    env.update(key_vars())  # every package is signed, with the tests' throwaway key
    env["PKGRUN_CACHE_DIR"] = str(cache_dir)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["PKGRUN_REPO"] = str(tmp_path / "repo")  # never the project's ./repo
    env.pop("PKGRUN_MIRROR", None)
    return env


def hello_build(recipes: Path, out: Path, *extra: str) -> list[str]:
    """`pkgrun build hello` of ``recipes`` for the local target, its source from the tests' mirror."""
    return ["--recipes", str(recipes), "build", "hello", "--target", "local",
            "--mirror", str(TEST_SOURCES), "--out", str(out), *extra]  # fmt: skip


def publish_argv(repo: Path, *rpms: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """`pkgrun publish` into ``repo`` for the local target, in a process of its own."""
    return [sys.executable, "-m", "pkgrun", "publish", "--repo", str(repo), "--target", "local",
            *extra, *map(str, rpms)]  # fmt: skip


def pkgrun_containers(engine: str, owner: int | None = None) -> list[str]:
    """Containers pkgrun started (they carry its label), running or not; with ``owner``, only
    those the pkgrun process with that pid started (other runs may share this engine)."""
    label = "io.pkgrun.recipe" if owner is None else f"io.pkgrun.owner={owner}"
    out = subprocess.run(
        [engine, "ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture
def no_leftover_containers(podman: str) -> Iterator[None]:
    """The in-process builds of a test remove every container they started."""
    yield
    assert pkgrun_containers(podman, owner=os.getpid()) == []


def runtime_image(engine: str, apt_requires: list[str]) -> str:
    """The local base image plus rpm and the runtime libraries a package lists for apt: a fresh
    Debian to install an RPM into with rpm, as the `local` target's users do."""
    import hashlib
    import json
    import tempfile

    packages = sorted({"rpm", *apt_requires})
    tag = "localhost/pkgrun-test-runtime:" + hashlib.sha256(json.dumps(packages).encode()).hexdigest()[:12]
    if subprocess.run([engine, "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory() as tmp:
        install = [
            "sh",
            "-c",
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            '--no-install-recommends "$@" && rm -rf /var/lib/apt/lists/*',
            "sh",
            *packages,
        ]
        (Path(tmp) / "Containerfile").write_text(f"FROM {LOCAL_IMAGE}\nRUN {json.dumps(install)}\n")
        containerfile = str(Path(tmp) / "Containerfile")  # docker looks for a Dockerfile otherwise
        subprocess.run(
            [engine, "build", "--network=host", *ULIMITS, "--tag", tag, "--file", containerfile, tmp],
            check=True,
            capture_output=True,
        )
    return tag


def run_installed(engine: str, rpms: list[Path], apt_requires: list[str], script: str) -> str:
    """Install ``rpms`` with rpm into a fresh container (no network) and run ``script`` there;
    return its output. The container is removed (--rm)."""
    image = runtime_image(engine, apt_requires)
    mounts = []
    for rpm in rpms:
        mounts += ["--volume", f"{rpm.resolve()}:/rpms/{rpm.name}:ro"]
    # --nodeps: the RPMs require Debian packages, which apt installed and rpm's database lacks
    command = "set -e; rpm -i --nodeps /rpms/*.rpm; " + script
    result = subprocess.run(
        [engine, "run", "--rm", "--network=none", *ULIMITS, *mounts, image, "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def seed_packages(podman: str, mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The three seed recipes built once for the `local` target (their default versions there),
    install-tested and published into a repository that later tests use."""
    import json
    import sys

    work = tmp_path_factory.mktemp("seed")
    # sources and compiles: the test's own, or where CI keeps them for make rpms to reuse
    cache = os.environ.get("PKGRUN_TEST_CACHE_DIR") or str(work / "cache")
    env = {**os.environ, **key_vars(), "PKGRUN_CACHE_DIR": cache, "XDG_STATE_HOME": str(work / "state")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pkgrun",
            "--recipes",
            str(TESTS.parent / "recipes"),
            "build",
            "nginx",
            "supervisor",
            "php",
            "--target",
            "local",
            "--engine",
            podman,
            "--mirror",
            str(mirror),
            "--out",
            str(work / "out"),
            "--repo",
            str(work / "repo"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout, stderr = process.communicate(timeout=3600)
    assert process.returncode == 0, stderr[-5000:]
    report = json.loads(stdout)
    return {
        "report": report,
        "built": {b["name"]: b for b in report["built"]},
        "repo": work / "repo",
        "cache": Path(cache),
        "stderr": stderr,
        "left_behind": pkgrun_containers(podman, owner=process.pid),
    }
