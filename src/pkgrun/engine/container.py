"""Container engines: which one, the argv of each engine command (pure), and a Container that
always goes away.

podman and docker take the same arguments for everything pkgrun does, so one set of builders
serves both; ``Engine.argv`` puts the engine's own flags in front: the service it talks to
(``podman --url``, ``docker --host``), given explicitly rather than through CONTAINER_HOST or
DOCKER_HOST in the environment, so that every command reaches the engine the run chose.

Nothing is bind-mounted: files go into a container and come out of it as tar streams (`cp -`),
which work the same on a local engine and on one reached over a socket or ssh. Every command
an engine runs goes through this module's ``run``, ``run_logged`` and ``run_to_file``: the one
seam the tests replace with a fake engine.
"""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pkgrun.archive import Item, extract_file, write_archive
from pkgrun.engine.ulimits import PORTABLE_ULIMITS, host_ulimits
from pkgrun.errors import CommandFailed, PkgrunError, ToolNotFound, UsageError
from pkgrun.numerals import number
from pkgrun.run import Result, find_tool, run, run_logged, run_to_file

LABEL = "io.pkgrun.recipe"
# which pkgrun process started a container: `podman ps --filter label=io.pkgrun.owner=<pid>`
# finds one a killed run left behind
OWNER_LABEL = "io.pkgrun.owner"
HOSTNAME = "pkgrun"


class EngineName(StrEnum):
    PODMAN = "podman"
    DOCKER = "docker"


@dataclass(frozen=True)
class Engine:
    name: EngineName
    url: str | None = None  # a service (unix://, ssh://, tcp://), or None for the local engine
    # a named service instead: `podman system connection` / `docker context` (podman
    # --connection, docker --context), set up on this machine with its URL and key
    connection: str | None = None
    # --ulimit for every container and image build: explicit, so that an engine never asks the
    # kernel for more than the host allows (podman's defaults can exceed a host's hard limits,
    # and runc then fails with "error setting rlimit")
    ulimits: tuple[str, ...] = PORTABLE_ULIMITS
    # podman's --runtime for every command, when pkgrun chose one (oci_runtime), and why
    runtime: str | None = None
    runtime_note: str | None = field(default=None, compare=False)

    def argv(self, *args: str) -> list[str]:
        head = [self.name.value]
        if self.runtime:
            head += ["--runtime", self.runtime]
        if self.url:
            head += ["--url" if self.name is EngineName.PODMAN else "--host", self.url]
        elif self.connection:
            head += ["--connection" if self.name is EngineName.PODMAN else "--context", self.connection]
        return head + list(args)

    @property
    def remote(self) -> bool:
        return self.url is not None or self.connection is not None

    def __str__(self) -> str:
        """The engine as messages name it: podman, podman at ssh://..., docker (context ci)."""
        if self.url:
            return f"{self.name} at {self.url}"
        if self.connection:
            kind = "connection" if self.name is EngineName.PODMAN else "context"
            return f"{self.name} ({kind} {self.connection})"
        return self.name.value


def detect_engine(choice: str | None, urls: Mapping[str, str], ulimits: Sequence[str] = ()) -> Engine:
    """``choice`` (--engine, $PKGRUN_ENGINE), else podman if installed, else docker; reached at
    ``urls[name]`` when given (CONTAINER_HOST, DOCKER_HOST)."""
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
    url = urls.get(name.value) or None
    return Engine(name, url=url, ulimits=tuple(ulimits) or (PORTABLE_ULIMITS if url else host_ulimits()))


def check_engine(engine: Engine) -> None:
    """Fail before any work when the engine cannot be reached (a stopped docker daemon, say)."""
    # a daemon or a service must answer; a local podman has no server
    local_podman = engine.name is EngineName.PODMAN and not engine.remote
    try:
        run(
            engine.argv(
                "version", "--format", "{{.Client.Version}}" if local_podman else "{{.Server.Version}}"
            )
        )
    except CommandFailed as exc:
        last = exc.output.strip().splitlines()[-1] if exc.output.strip() else str(exc)
        raise EngineDown(engine, last) from None


class EngineDown(PkgrunError):
    """An engine (or the service of a build host) that does not answer."""

    def __init__(self, engine: Engine, said: str) -> None:
        self.engine, self.said = engine, said
        if engine.remote:
            hint = (
                "start the engine's service there (podman.socket, dockerd), check the URL or connection "
                "(CONTAINER_HOST, DOCKER_HOST, pkgrun.toml's [[hosts]]) and that ssh reaches it without "
                "a prompt"
            )
        else:
            hint = "start the engine, or choose the other engine with --engine"
        super().__init__(f"{engine} does not answer: {said}", hint=hint)


# seconds a build host has to answer a question about itself before it counts as down
ANSWER_TIMEOUT = 30.0


def engine_cpus(engine: Engine, timeout: float = ANSWER_TIMEOUT) -> int:
    """How many processors the engine's machine has: the question that checks a build host
    answers, and sizes its make -j. EngineDown when it does not answer in time."""
    said = engine_info(engine, "{{.Host.CPUs}}" if engine.name is EngineName.PODMAN else "{{.NCPU}}", timeout)
    return max(1, number(said) or 1)


def engine_info(engine: Engine, template: str, timeout: float | None = ANSWER_TIMEOUT) -> str:
    """``engine info --format template``; EngineDown, in the engine's last words, when it fails."""
    try:
        return run(engine.argv("info", "--format", template), timeout=timeout).stdout.strip()
    except CommandFailed as exc:
        lines = exc.output.strip().splitlines()
        raise EngineDown(engine, lines[-1] if lines else str(exc)) from None


class ContainerStartFailed(PkgrunError):
    """The engine refused to start a container: says why, in the engine's words, and what to do."""

    def __init__(self, engine: Engine, image: str, output: str) -> None:
        self.engine = engine
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
    *,
    network: str = "none",
    labels: Mapping[str, str] | None = None,
    volumes: Sequence[tuple[str, str]] = (),
    hostname: str = HOSTNAME,
) -> list[str]:
    """A container that idles until pkgrun has run its steps in it with ``exec``. ``volumes``:
    (named volume, path) pairs; never a host path, which a remote engine would look up on its own
    disk."""
    # sleep as PID 1 ignores SIGTERM: with KILL as the stop signal, removal takes no grace period
    argv = engine.argv("run", "--detach", "--name", name, f"--network={network}", "--stop-signal=KILL")
    # a fixed host name: a packager writes it into the RPM (Build Host), never a random ID
    argv += ["--hostname", hostname]
    argv += _ulimit_flags(engine)
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    for volume, path in volumes:
        argv += ["--volume", f"{volume}:{path}"]
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


def copy_in_argv(engine: Engine, name: str) -> list[str]:
    """A tar stream on standard input, extracted at the container's root."""
    return engine.argv("cp", "-", f"{name}:/")


def copy_out_argv(engine: Engine, name: str, path: str) -> list[str]:
    """``path`` in the container as a tar stream on standard output."""
    return engine.argv("cp", f"{name}:{path}", "-")


def remove_argv(engine: Engine, name: str) -> list[str]:
    return engine.argv("rm", "--force", name)


def image_id_argv(engine: Engine, image: str) -> list[str]:
    return engine.argv("image", "inspect", "--format", "{{.Id}}", image)


def build_argv(
    engine: Engine, tag: str, containerfile: Path, context: Path, *, network: str = "host"
) -> list[str]:
    argv = engine.argv("build", f"--network={network}", *_ulimit_flags(engine))
    return argv + ["--tag", tag, "--file", str(containerfile), str(context)]


def import_argv(engine: Engine, tarball: Path, tag: str) -> list[str]:
    return engine.argv("import", str(tarball), tag)


def _ulimit_flags(engine: Engine) -> list[str]:
    return [flag for value in engine.ulimits for flag in ("--ulimit", value)]


# --- running ---------------------------------------------------------------------------------------


def image_id(engine: Engine, image: str) -> str | None:
    result = run(image_id_argv(engine, image), check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


def build_image(engine: Engine, tag: str, containerfile_text: str, *, log: Path, hint: str) -> None:
    """Build ``tag`` from a Containerfile (whose context holds nothing else)."""
    with tempfile.TemporaryDirectory(prefix="pkgrun-image-") as tmp:
        file = Path(tmp) / "Containerfile"
        file.write_text(containerfile_text)
        run_logged(build_argv(engine, tag, file, Path(tmp)), log, hint=hint)


def build_image_from(engine: Engine, tag: str, context: Path, *, log: Path, hint: str) -> None:
    """Build ``tag`` from ``context``/Containerfile."""
    run_logged(build_argv(engine, tag, context / "Containerfile", context), log, hint=hint)


def import_image(engine: Engine, tarball: Path, tag: str, *, log: Path) -> None:
    run_logged(import_argv(engine, tarball, tag), log)


@dataclass
class Transfers:
    """What a build copied into its containers and out of them, and how long that took: the
    cost of reaching an engine through its API instead of sharing a disk with it."""

    in_bytes: int = 0
    in_seconds: float = 0.0
    out_bytes: int = 0
    out_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, inward: bool, size: int, seconds: float) -> None:
        with self._lock:
            if inward:
                self.in_bytes, self.in_seconds = self.in_bytes + size, self.in_seconds + seconds
            else:
                self.out_bytes, self.out_seconds = self.out_bytes + size, self.out_seconds + seconds

    def to_json(self) -> dict[str, float]:
        return {
            "in_bytes": self.in_bytes,
            "in_seconds": round(self.in_seconds, 2),
            "out_bytes": self.out_bytes,
            "out_seconds": round(self.out_seconds, 2),
        }


class Container:
    """A started container named ``pkgrun-<recipe>-<random>``; see ``start_container``."""

    def __init__(self, engine: Engine, name: str, transfers: Transfers | None = None) -> None:
        self.engine = engine
        self.name = name
        self.transfers = transfers or Transfers()

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

    def capture(self, command: Sequence[str], *, workdir: str | None = None, check: bool = True) -> Result:
        """Run ``command`` and return its output (for short queries, not for builds)."""
        return run(exec_argv(self.engine, self.name, command, workdir=workdir), check=check)

    def put(
        self,
        items: Sequence[Item] = (),
        trees: Sequence[tuple[Path, str]] = (),
        leave_out: Collection[str] = (),
    ) -> None:
        """Copy files (and whole directories, but the paths in ``leave_out``) into the
        container, owned by root."""
        with tempfile.TemporaryDirectory(prefix="pkgrun-put-") as tmp:
            archive = Path(tmp) / "in.tar"
            write_archive(archive, items, trees, leave_out)
            began = time.monotonic()
            run(copy_in_argv(self.engine, self.name), stdin=archive)
            self.transfers.add(True, archive.stat().st_size, time.monotonic() - began)

    def get(self, path: str, dest: Path) -> None:
        """Copy the regular file ``path`` out of the container to ``dest``."""
        with tempfile.TemporaryDirectory(prefix="pkgrun-get-", dir=dest.parent) as tmp:
            archive = Path(tmp) / "out.tar"
            began = time.monotonic()
            run_to_file(copy_out_argv(self.engine, self.name, path), archive)
            self.transfers.add(False, archive.stat().st_size, time.monotonic() - began)
            extract_file(archive, path.rsplit("/", 1)[-1], dest)


@contextmanager
def start_container(
    engine: Engine,
    recipe: str,
    image: str,
    *,
    keep: bool = False,
    labels: Mapping[str, str] | None = None,
    network: str = "none",
    volumes: Sequence[tuple[str, str]] = (),
    transfers: Transfers | None = None,
) -> Iterator[Container]:
    """Start a container and remove it whatever happens: success, failure, Ctrl-C, or an error
    half-way through starting it. ``keep`` (PKGRUN_KEEP_CONTAINER=1) leaves it for debugging."""
    name = container_name(recipe)
    with _ACTIVE_LOCK:
        _ACTIVE[name] = engine
    try:
        try:
            run(
                run_detached_argv(
                    engine,
                    name,
                    image,
                    labels={LABEL: recipe, OWNER_LABEL: str(os.getpid()), **(labels or {})},
                    network=network,
                    volumes=volumes,
                )
            )
        except CommandFailed as exc:
            raise ContainerStartFailed(engine, image, exc.output) from None
        yield Container(engine, name, transfers)
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
        _remove_now(engine, name)


def _remove(engine: Engine, name: str) -> None:
    # A second Ctrl-C must not leave the container behind: ignore SIGINT while removing (only
    # the main thread receives signals, and only it may change their handlers).
    if threading.current_thread() is not threading.main_thread():
        _remove_now(engine, name)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _remove_now(engine, name)
    finally:
        signal.signal(signal.SIGINT, previous)


def _remove_now(engine: Engine, name: str) -> None:
    # a remote engine may have gone: its container stays there (its labels name this run)
    run(remove_argv(engine, name), check=False, timeout=ANSWER_TIMEOUT if engine.remote else None)
