"""Small helpers shared by the tests."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pkgrun.recipe.model import Recipe, parse_recipe
from pkgrun.report import NullReporter
from pkgrun.trust.signing import SigningKey, find_secret_key

PROJECT = Path(__file__).resolve().parent.parent
RECIPES = PROJECT / "recipes"
DEMO_SHA = {"1.0": "a" * 64, "2.0": "b" * 64}
REQUIRED = os.environ.get("PKGRUN_REQUIRE_INTEGRATION") == "1"


def require_tools(*tools: str) -> None:
    """Skip the test when a tool it needs is missing; fail instead where
    PKGRUN_REQUIRE_INTEGRATION=1 (CI), so that CI cannot pass by skipping."""
    import pytest

    for tool in tools:
        if shutil.which(tool) is None:
            if REQUIRED:
                pytest.fail(f"PKGRUN_REQUIRE_INTEGRATION=1 but {tool} is not installed")
            pytest.skip(f"{tool} is not installed")


DEMO = """
[package]
name = "demo"
version = "1.0"
summary = "demo"
license = "MIT"
url = "https://example.org/"
maintainer = "me"

[source]
url = "https://example.org/demo-{{version}}.tar.gz"
sha256 = {{ "1.0" = "{one}", "2.0" = "{two}" }}

[build]
script = "build.sh"
""".format(one=DEMO_SHA["1.0"], two=DEMO_SHA["2.0"])


class Notes(NullReporter):
    """A reporter that keeps what was noted."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, recipe: str, message: str) -> None:
        self.notes.append(message)


def seed_recipe(name: str) -> Recipe:
    """One of the project's recipes, parsed without touching the files it names (pure)."""
    file = RECIPES / name / "recipe.toml"
    with file.open("rb") as fh:
        return parse_recipe(tomllib.load(fh), file)


def demo_toml(*sections: str) -> str:
    """A minimal valid recipe text plus extra TOML sections ([files] defaults to usr)."""
    text = DEMO + "\n".join(sections)
    if "[files]" not in text:
        text += '\n[files]\npaths = ["usr"]\n'
    return text


def demo(*sections: str) -> Recipe:
    return parse_recipe(tomllib.loads(demo_toml(*sections)), Path("demo/recipe.toml"))


def make_rpm(
    directory: Path,
    name: str,
    version: str = "1.0",
    release: str = "1.local",
    arch: str = "x86_64",
    payload: str = "",
    size: int = 0,
    text: str | None = None,
) -> Path:
    """A small real RPM made with nfpm (pkgrun's own dependency), no container needed;
    ``size`` bytes of random data make a large one."""
    import tempfile

    directory.mkdir(parents=True, exist_ok=True)
    rpm = directory / f"{name}-{version}-{release}.{arch}.rpm"
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "content"
        content.write_text(f"{name} {version}-{release} {payload}\n" if text is None else text)
        if size:
            content.write_bytes(os.urandom(size))
        config = {
            "name": name,
            "arch": arch,
            "version": version,
            "release": release,
            "epoch": "0",
            "version_schema": "none",
            "maintainer": "tests",
            "description": f"test package {name}",
            "license": "MIT",
            "rpm": {"compression": "gzip", "summary": f"test package {name}"},
            "mtime": "2024-01-01T00:00:00Z",  # the same content makes the same package
            "contents": [{"src": str(content), "dst": f"/usr/share/{name}/content"}],
        }
        return nfpm_package(config, rpm)


def nfpm_package(config: dict, rpm: Path) -> Path:
    """``rpm`` made by nfpm (pkgrun's own dependency) from ``config``, no container needed."""
    import json
    import subprocess
    import tempfile

    from pkgrun.run import find_tool

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "nfpm.json").write_text(json.dumps(config))
        subprocess.run(
            [
                find_tool("nfpm"),
                "package",
                "--config",
                f"{tmp}/nfpm.json",
                "--packager",
                "rpm",
                "--target",
                str(rpm),
            ],
            check=True,
            capture_output=True,
        )
    return rpm


def toml_dumps(data: dict) -> str:
    """A TOML document for ``data`` (tables, lists, strings, numbers, booleans, dates), written
    with inline tables only, so that any key and any nesting round-trips through tomllib."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in data.items())


def toml_key(key: str) -> str:
    return toml_value(str(key))


def toml_value(value: object) -> str:
    import datetime
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        out = []
        for char in value:
            if char in '"\\':
                out.append("\\" + char)
            elif ord(char) < 0x20 or ord(char) == 0x7F:
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")


@functools.cache
def session_key() -> SigningKey:
    """A throwaway signing key for the test session (RSA 2048: quick to make), in a GnuPG home
    of its own; its gpg-agent is stopped when the session ends."""
    home = Path(tempfile.mkdtemp(prefix="pkgrun-test-gnupg-"))
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key",
         "pkgrun tests <tests@pkgrun.invalid>", "rsa2048", "sign", "never"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    atexit.register(subprocess.run, ["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    key = find_secret_key(home)
    assert key is not None
    return key


def key_vars() -> dict[str, str]:
    """The variables that make pkgrun sign with the test key (for an environment that has a
    state directory of its own)."""
    key = session_key()
    return {"GNUPGHOME": str(key.gnupg_home), "PKGRUN_SIGN_KEY": key.fingerprint}


def key_env() -> dict[str, str]:
    """The environment that makes pkgrun sign with the test key, its records in the session's
    state directory."""
    return {**key_vars(), **state_env()}


@functools.cache
def state_env() -> dict[str, str]:
    """A state directory of the test session's own (pkgrun's record of what it published lives
    there), never the home directory's."""
    state = Path(tempfile.mkdtemp(prefix="pkgrun-test-state-"))
    atexit.register(shutil.rmtree, state, ignore_errors=True)
    return {"XDG_STATE_HOME": str(state)}


@contextmanager
def podman_service() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A build host on this machine: `podman system service` on a socket of its own, with a
    storage of its own (so it shares no image, container or volume with any other engine).
    Yields its URL and its process (a test may kill it); afterwards its containers, mounts and
    storage are removed."""
    where = Path(tempfile.mkdtemp(prefix="pkgrun-host-"))  # podman: a run root under 50 characters
    root, runroot, socket = where / "root", where / "run", where / "podman.sock"
    store = ["podman", "--root", str(root), "--runroot", str(runroot)]
    with (where / "service.log").open("wb") as log:
        process = subprocess.Popen(
            [*store, "system", "service", "--time=0", f"unix://{socket}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"unix://{socket}"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["podman", "--url", url, "info"], capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                said = (where / "service.log").read_text()[-2000:]
                raise RuntimeError(f"podman system service did not start: {said}")
            time.sleep(0.3)
        yield url, process
    finally:
        process.kill()
        process.wait()
        # a killed service leaves its containers running (conmon keeps them): remove them directly,
        # then whatever the store still has mounted (its overlay, containers' shm), deepest first
        subprocess.run([*store, "rm", "--all", "--force"], capture_output=True)
        # conmon stays 5 minutes after each exec the service ran, then runs a cleanup command that
        # mounts the store again: end every process of this store's first
        deadline = time.monotonic() + 60
        while (pids := _processes_naming(where)) and time.monotonic() < deadline:
            for pid in pids:
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(where) + "/")), reverse=True):
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def _processes_naming(path: Path) -> list[int]:
    """The processes with ``path`` in their command lines."""
    needle, found = str(path).encode(), []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):
            if needle in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
    return found
