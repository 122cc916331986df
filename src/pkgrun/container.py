"""Container engines: which one, the argv of each engine command (pure), and a Container that
always goes away.

podman and docker take the same arguments for everything pkgrun does, so one set of builders
serves both; ``Engine.argv`` puts the engine's own flags in front: the service it talks to
(``podman --url``, ``docker --host``), given explicitly rather than through CONTAINER_HOST or
DOCKER_HOST in the environment, so that every command reaches the engine the run chose.
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


# Limits for a container on an engine pkgrun cannot look at (a remote service): what any Linux
# host's hard limits allow (the kernel's default hard nofile is 4096).
PORTABLE_ULIMITS = ("nofile=1024:4096", "nproc=4096:8192")


@dataclass(frozen=True)
class Engine:
    name: EngineName
    url: str | None = None  # a service (unix://, ssh://, tcp://), or None for the local engine
    # --ulimit for every container and image build: explicit, so that an engine never asks the
    # kernel for more than the host allows (podman's defaults can exceed a host's hard limits,
    # and runc then fails with "error setting rlimit")
    ulimits: tuple[str, ...] = PORTABLE_ULIMITS

    def argv(self, *args: str) -> list[str]:
        head = [self.name.value]
        if self.url:
            head += ["--url" if self.name is EngineName.PODMAN else "--host", self.url]
        return head + list(args)

    @property
    def remote(self) -> bool:
        return self.url is not None


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
    url = env.get("CONTAINER_HOST" if name is EngineName.PODMAN else "DOCKER_HOST") or None
    return Engine(
        name,
        url=url,
        ulimits=ulimits_from(env.get("PKGRUN_ULIMITS")) or (PORTABLE_ULIMITS if url else host_ulimits()),
    )


def host_ulimits() -> tuple[str, ...]:
    """This host's limits for open files and processes, as --ulimit values: a container gets what
    pkgrun itself may use (soft:hard), and never more than the kernel allows (pid_max)."""
    import resource

    out = []
    for name, limit, cap in (
        ("nofile", resource.RLIMIT_NOFILE, 1 << 20),
        ("nproc", resource.RLIMIT_NPROC, _pid_max()),
    ):
        soft, hard = resource.getrlimit(limit)
        hard = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
        out.append(f"{name}={soft}:{hard}")
    return tuple(out)


def _pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 32768


def ulimits_from(text: str | None) -> tuple[str, ...]:
    """PKGRUN_ULIMITS: "nofile=1024:4096 nproc=4096:8192"."""
    if not text:
        return ()
    values = tuple(text.split())
    for value in values:
        name, _, limits = value.partition("=")
        parts = limits.split(":")
        if name not in ("nofile", "nproc") or not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
            raise UsageError(
                f"PKGRUN_ULIMITS: {value!r} is not a limit",
                hint='write "nofile=SOFT:HARD nproc=SOFT:HARD", e.g. "nofile=1024:4096 nproc=4096:8192"',
            )
    return values


def check_engine(engine: Engine) -> None:
    """Fail before any work when the engine cannot be reached (a stopped docker daemon, say)."""
    try:
        run(
            engine.argv(
                "version",
                "--format",
                # a daemon or a service must answer; a local podman has no server
                "{{.Client.Version}}"
                if engine.name is EngineName.PODMAN and not engine.url
                else "{{.Server.Version}}",
            )
        )
    except CommandFailed as exc:
        raise PkgrunError(
            f"{engine.name} does not answer: {exc.output.strip().splitlines()[-1] if exc.output else exc}",
            hint="start the engine (or its service), check DOCKER_HOST / CONTAINER_HOST, "
            "or choose the other engine with --engine",
        ) from None


class ContainerStartFailed(PkgrunError):
    """The engine refused to start a container: says why, in the engine's words, and what to do."""

    def __init__(self, engine: Engine, image: str, output: str) -> None:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        reason = lines[-1] if lines else "no reason given"
        self.output = output
        super().__init__(
            f"{engine.name} could not start a container from {image}: {reason}",
            hint=_start_hint(engine, reason),
        )


def _start_hint(engine: Engine, reason: str) -> str:
    text = reason.lower()
    if "rlimit" in text:
        return (
            f"the container asked for more than the host allows ({' '.join(engine.ulimits)}): set "
            'PKGRUN_ULIMITS to limits under the host\'s hard limits, e.g. "nofile=1024:4096 nproc=4096:8192"'
        )
    if "cgroup" in text or "crun" in text:
        return (
            "the OCI runtime refused this host's cgroup set-up: use runc "
            '(runtime = "runc" under [engine] in a containers.conf that CONTAINERS_CONF names)'
        )
    if "no such image" in text or "image not known" in text or "unable to find" in text:
        return "the image is missing: run the build again, it is made on first use"
    return f"see `{engine.name} info`; the engine's whole message is above"


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
    argv += _ulimit_flags(engine)
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
    argv = engine.argv("build", f"--network={network}", *_ulimit_flags(engine))
    return argv + ["--tag", tag, "--file", str(containerfile), str(context)]


def _ulimit_flags(engine: Engine) -> list[str]:
    return [flag for value in engine.ulimits for flag in ("--ulimit", value)]


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
        try:
            run(run_detached_argv(engine, name, image, mounts, labels=labels, network=network))
        except CommandFailed as exc:
            raise ContainerStartFailed(engine, image, exc.output) from None
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
