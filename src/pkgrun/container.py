"""Container engines: which one, the argv of each engine command (pure), and a Container that
always goes away.

podman and docker take the same arguments for everything pkgrun does, so one set of builders
serves both; ``Engine.argv`` puts the engine's own flags in front (``--remote`` for a podman
reached through CONTAINER_HOST; docker reads DOCKER_HOST itself).
"""

from __future__ import annotations

import secrets
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pkgrun.errors import CommandFailed, PkgrunError, ToolNotFound, UsageError
from pkgrun.run import Result, find_tool, run, run_logged


class EngineName(StrEnum):
    PODMAN = "podman"
    DOCKER = "docker"


@dataclass(frozen=True)
class Engine:
    name: EngineName
    remote: bool = False  # podman --remote, when CONTAINER_HOST points at a service

    def argv(self, *args: str) -> list[str]:
        head = [self.name.value]
        if self.remote:
            head.append("--remote")
        return head + list(args)


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True

    def flag(self) -> str:
        return f"type=bind,source={self.source},target={self.target}" + (
            ",readonly" if self.read_only else ""
        )


def detect_engine(choice: str | None, env: Mapping[str, str]) -> Engine:
    """``--engine``, else $PKGRUN_ENGINE, else podman if installed, else docker."""
    choice = choice or env.get("PKGRUN_ENGINE") or None
    if choice is not None:
        try:
            name = EngineName(choice)
        except ValueError:
            raise UsageError(f"unknown engine {choice!r}", hint="choose podman or docker") from None
        find_tool(name.value, hint=f"install {name.value}, or choose the other engine with --engine")
    else:
        for candidate in EngineName:
            try:
                find_tool(candidate.value)
            except ToolNotFound:
                continue
            name = candidate
            break
        else:
            raise ToolNotFound(
                "no container engine found: neither podman nor docker is on PATH",
                hint="install podman (or docker); pkgrun builds every package in a container",
            )
    return Engine(name, remote=name is EngineName.PODMAN and bool(env.get("CONTAINER_HOST")))


def check_engine(engine: Engine) -> None:
    """Fail before any work when the engine cannot be reached (a stopped docker daemon, say)."""
    try:
        run(
            engine.argv(
                "version",
                "--format",
                "{{.Server.Version}}" if engine.name is EngineName.DOCKER else "{{.Client.Version}}",
            )
        )
    except CommandFailed as exc:
        raise PkgrunError(
            f"{engine.name} does not answer: {exc.output.strip().splitlines()[-1] if exc.output else exc}",
            hint="start the engine (or its service), check DOCKER_HOST / CONTAINER_HOST, "
            "or choose the other engine with --engine",
        ) from None


def container_name(recipe: str) -> str:
    return f"pkgrun-{recipe}-{secrets.token_hex(4)}"


# --- pure argv builders ----------------------------------------------------------------------------


def run_detached_argv(
    engine: Engine,
    name: str,
    image: str,
    mounts: Sequence[Mount],
    *,
    network: str = "none",
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """A container that idles until pkgrun has run its steps in it with ``exec``."""
    # sleep as PID 1 ignores SIGTERM: with KILL as the stop signal, removal takes no grace period
    argv = engine.argv("run", "--detach", "--name", name, f"--network={network}", "--stop-signal=KILL")
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    for mount in mounts:
        argv += ["--mount", mount.flag()]
    return argv + ["--entrypoint", "sleep", image, "infinity"]


def exec_argv(
    engine: Engine,
    name: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    workdir: str | None = None,
) -> list[str]:
    argv = engine.argv("exec")
    for key, value in (env or {}).items():
        argv += ["--env", f"{key}={value}"]
    if workdir:
        argv += ["--workdir", workdir]
    return argv + [name, *command]


def remove_argv(engine: Engine, name: str) -> list[str]:
    return engine.argv("rm", "--force", name)


def image_id_argv(engine: Engine, image: str) -> list[str]:
    return engine.argv("image", "inspect", "--format", "{{.Id}}", image)


def build_argv(
    engine: Engine, tag: str, containerfile: Path, context: Path, *, network: str = "host"
) -> list[str]:
    return engine.argv(
        "build", f"--network={network}", "--tag", tag, "--file", str(containerfile), str(context)
    )


def import_argv(engine: Engine, tarball: Path, tag: str) -> list[str]:
    return engine.argv("import", str(tarball), tag)


# --- running ---------------------------------------------------------------------------------------


def image_id(engine: Engine, image: str) -> str | None:
    result = run(image_id_argv(engine, image), check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


class Container:
    """A started container named ``pkgrun-<recipe>-<random>``; see ``start_container``."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name

    def exec(
        self,
        command: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        hint: str | None = None,
        what: str | None = None,
    ) -> None:
        """Run ``command`` in the container, its output appended to ``log``. A failure is told as
        the failure of ``what`` (default: the command) in the container, not the engine's."""
        try:
            run_logged(exec_argv(self.engine, self.name, command, env=env, workdir=workdir), log, hint=hint)
        except CommandFailed as exc:
            what = what or " ".join(command[:2]) + (" ..." if len(command) > 2 else "")
            raise CommandFailed(exc.argv, exc.returncode, exc.output, hint=exc.hint, what=what) from None

    def capture(self, command: Sequence[str], *, workdir: str | None = None) -> Result:
        """Run ``command`` and return its output (for short queries, not for builds)."""
        return run(exec_argv(self.engine, self.name, command, workdir=workdir))


@contextmanager
def start_container(
    engine: Engine,
    recipe: str,
    image: str,
    mounts: Sequence[Mount],
    *,
    keep: bool = False,
    labels: Mapping[str, str] | None = None,
    network: str = "none",
) -> Iterator[Container]:
    """Start a container and remove it whatever happens: success, failure, Ctrl-C, or an error
    half-way through starting it. ``keep`` (PKGRUN_KEEP_CONTAINER=1) leaves it for debugging."""
    name = container_name(recipe)
    with _ACTIVE_LOCK:
        _ACTIVE[name] = engine
    try:
        run(run_detached_argv(engine, name, image, mounts, labels=labels, network=network))
        yield Container(engine, name)
    finally:
        if not keep:
            _remove(engine, name)
        with _ACTIVE_LOCK:
            _ACTIVE.pop(name, None)


# Containers started and not yet removed, for the main thread to remove on Ctrl-C while worker
# threads (which receive no signals) are busy in them.
_ACTIVE: dict[str, Engine] = {}
_ACTIVE_LOCK = threading.Lock()


def remove_active_containers() -> None:
    with _ACTIVE_LOCK:
        active = dict(_ACTIVE)
    for name, engine in active.items():
        run(remove_argv(engine, name), check=False)


def _remove(engine: Engine, name: str) -> None:
    # A second Ctrl-C must not leave the container behind: ignore SIGINT while removing (only
    # the main thread receives signals, and only it may change their handlers).
    if threading.current_thread() is not threading.main_thread():
        run(remove_argv(engine, name), check=False)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run(remove_argv(engine, name), check=False)
    finally:
        signal.signal(signal.SIGINT, previous)
