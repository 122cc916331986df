"""docs/own-recipes.md, "Your own recipes", followed step by step on the `local` target: its
files written as the walkthrough shows them, its commands run as it says (only the target, the
path of pkgrun's checkout and the build host's address are this machine's), and a server that
installs the service by name from the served repository and talks to it.

The server is a container of the local target's image with Debian's dnf: the walkthrough's root
commands run in it as written, but for `systemctl`, which is done as the unit says (its user,
its environment file, its command), there being no systemd in a container.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TESTS, need_tool, runtime_image

DOC = TESTS.parent / "docs" / "own-recipes.md"
SECTION = "# Your own recipes"
TARGET_LINE = "$ TARGET=el9"
CHECKOUT = "/path/to/pkgrun"
BUILD_HOST = "build-host:8780"


def section() -> str:
    """The walkthrough: from the page's title to its first subheading (the engine's notes)."""
    text = DOC.read_text()
    start = text.index(SECTION + "\n")
    end = text.index("\n## ", start + len(SECTION))
    return text[start:end]


def files(text: str) -> dict[str, str]:
    """Each file the section shows: a line naming it, `recipes/...`:, then its fenced block."""
    found = re.findall(r"^`(recipes/[^`]+)`:\n\n```\w*\n(.*?)^```$", text, flags=re.M | re.S)
    return dict(found)


def console_blocks(text: str) -> list[str]:
    return re.findall(r"^```console\n(.*?)^```$", text, flags=re.M | re.S)


def commands(block: str, prompt: str) -> list[str]:
    return [line[len(prompt) :] for line in block.splitlines() if line.startswith(prompt)]


def test_the_section_as_written_is_what_this_test_follows() -> None:
    text = section()
    written = files(text)
    assert sorted(written) == [
        "recipes/greet/build.sh", "recipes/greet/recipe.toml",
        "recipes/greetd/add-user.sh", "recipes/greetd/build.sh", "recipes/greetd/recipe.toml",
        "recipes/greetd/restart.sh", "recipes/greetd/stop.sh",
        "recipes/libgreet/build.sh", "recipes/libgreet/ldconfig.sh", "recipes/libgreet/recipe.toml",
    ]  # fmt: skip
    setup, build, server = console_blocks(text)
    assert setup.startswith(TARGET_LINE) and CHECKOUT in setup
    assert commands(build, "$ ")[-1].startswith("pkgrun serve ") and BUILD_HOST in build
    assert "systemctl enable --now greetd" in commands(server, "# ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _here(line: str, port: int) -> str:
    """A line of the section with this machine's values."""
    return (
        line.replace(TARGET_LINE[2:], "TARGET=local")
        .replace(CHECKOUT, str(TESTS.parent))
        .replace(BUILD_HOST, f"127.0.0.1:{port}")
        .replace("8780", str(port))
        .replace("/el9/", "/local/")
    )


def test_from_nothing_to_dnf_install_on_a_server(
    podman: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tool("curl")
    text = section()
    setup, build, server = console_blocks(text)
    port = _free_port()
    home = tmp_path / "home"
    home.mkdir()
    # a new user's shell: pkgrun on PATH, a home of its own (keys, caches, state), no settings
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **{k: v for k, v in os.environ.items() if k in ("CONTAINERS_CONF", "PKGRUN_TEST_MIRROR")},
    }
    # the setup block, the files as shown, then every command but the server's, in one shell
    script = ["set -euo pipefail", *(_here(line, port) for line in commands(setup, "$ "))]
    for name, body in files(text).items():
        script += [
            f"mkdir -p {shlex.quote(str(Path(name).parent))}",
            f"cat > {name} <<'PKGRUN_EOF'",
            body + "PKGRUN_EOF",
        ]
    *steps, serve = (_here(line, port) for line in commands(build, "$ "))
    script += [f"echo '+ {step}' >&2; {step}" for step in steps]
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], env=env, cwd=TESTS.parent, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-6000:]
    assert not re.search(r"^(error|warning):", done.stderr, flags=re.M), done.stderr[-6000:]
    project = home / "packaging"
    listed = subprocess.run(
        ["pkgrun", "repo", "list", "--target", "local", "--json"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # each published once, at the version its recipe names, with its SBOM beside it
    published = {row["nevra"]: row for row in json.loads(listed)}
    assert sorted(published) == [
        "greet-0:1.0-1.local.x86_64", "greetd-0:1.0-1.local.x86_64", "libgreet-0:1.1-1.local.x86_64",
    ]  # fmt: skip
    assert all(row["sbom"] and (project / row["sbom"]).is_file() for row in published.values()), published
    # libgreet built and published once, before the two that need it
    in_order = re.findall(r"^(\S+): publish into repo/local: done", done.stderr, flags=re.M)
    assert in_order[:1] == ["libgreet"] and sorted(in_order) == ["greet", "greetd", "libgreet"], in_order

    # the build host serves the repository; a server installs from it
    serving = subprocess.Popen(
        ["bash", "-c", serve], env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        _wait_for(port)
        image = runtime_image(podman, ["dnf", "curl", "gpg", "passwd", "netcat-openbsd", "util-linux"])
        output = _on_a_server(image, [_here(line, port) for line in commands(server, "# ")], project)
    finally:
        serving.terminate()
        serving.wait(timeout=30)
    expected = [line for line in server.splitlines() if line and not line.startswith("# ")]
    assert expected == ["hello, you (libgreet 1.1)"]
    assert output.strip().splitlines()[-1] == expected[0], output


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"pkgrun serve did not listen on port {port}")


def _on_a_server(image: str, lines: list[str], project: Path) -> str:
    """The server's commands in a fresh container of ``image`` (the host's network, to reach
    the served repository); systemctl done as the installed unit says. First, as pkgrun's own
    install test does on this target, rpm is told what the Debian image's packages provide."""
    from pkgrun.engine.container import Engine, EngineName, start_container
    from pkgrun.engine.oci_runtime import settle_runtime
    from pkgrun.engine.ulimits import host_ulimits
    from pkgrun.install.shim import install as tell_rpm
    from pkgrun.rpm.query import read_rpm

    # what an el server has and Debian's dnf lacks: the directory of .repo files
    script = ["set -euo pipefail", "mkdir -p /etc/yum.repos.d"]
    for line in lines:
        script.append(
            _as_systemd_would(line.split()[-1]) if line.startswith("systemctl enable --now ") else line
        )
    engine = settle_runtime(Engine(EngineName.PODMAN, ulimits=host_ulimits()), None)
    infos = [read_rpm(rpm) for rpm in sorted((project / "repo" / "local" / "x86_64").glob("*.rpm"))]
    with start_container(engine, "server", image, network="host") as server:
        tell_rpm(server, lambda label, command, hint=None: server.capture(command).stdout, infos)
        result = server.capture(["bash", "-c", "\n".join(script)], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _as_systemd_would(unit: str) -> str:
    """Start ``unit``'s service as systemd would: its User, EnvironmentFile and ExecStart."""
    return (
        f"u=/usr/lib/systemd/system/{unit}.service; "
        'user=$(sed -n "s/^User=//p" "$u"); env=$(sed -n "s/^EnvironmentFile=//p" "$u"); '
        'exec_start=$(sed -n "s/^ExecStart=//p" "$u"); '
        'set -a; . "$env"; set +a; '
        'setpriv --reuid "$user" --regid "$user" --init-groups sh -c "$exec_start" & '
        # until it listens (greetd's port, from its environment file)
        'for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$GREETD_PORT") 2>/dev/null && break; '
        "sleep 0.1; done"
    )
