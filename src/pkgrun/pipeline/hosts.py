"""Build hosts: where builds run. Each is a container engine, this machine's own or one reached
through its remote API (`podman --url ssh://...`, `docker --host ssh://...`, a named connection
or context). Nothing runs on a build host but its engine: files go in and out of containers as
archives, its images are made there from the same Containerfiles, and what a build makes comes
back here, where it is signed and published.

With no [[hosts]] in pkgrun.toml and no --host, the one host is the local engine, sized by
--builds and --jobs as before. Configured hosts are asked, all at once, how many processors they
have: that answer checks they are reachable and sizes their builds and make -j. A host that
does not answer is down for the run; the run goes on with the others. While remote hosts build,
``Watch`` keeps asking them, and stops the commands sent to one that hangs; ``engine_failed``
tells a failure of a host's engine from a build's own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from pkgrun.build.plan import BuildPlan
from pkgrun.config.file import Host
from pkgrun.config.settings import Settings
from pkgrun.engine.container import (
    ANSWER_TIMEOUT,
    ContainerStartFailed,
    Engine,
    EngineDown,
    EngineName,
    detect_engine,
    engine_cpus,
)
from pkgrun.engine.oci_runtime import settle_runtime
from pkgrun.errors import CommandFailed, PkgrunError, ToolNotFound, UsageError
from pkgrun.install.install_test import InstallTestFailed
from pkgrun.run import allow_processes, stop_processes

LOCAL = "local"  # the name of this machine's own engine, as --host takes it


@dataclass(frozen=True)
class BuildHost:
    name: str
    engine: Engine
    builds: int  # builds at once
    make_jobs: int | None = None  # make -j of each; None: the run's split of this machine's cores
    targets: frozenset[str] | None = None  # None: every target
    arch: str | None = None  # None: any package

    def takes(self, plan: BuildPlan) -> bool:
        """Whether a build of ``plan`` may run here (its target and the package's arch)."""
        if self.targets is not None and plan.target.name not in self.targets:
            return False
        arch = plan.loaded.recipe.package.arch
        return self.arch is None or arch in ("noarch", "all") or arch == self.arch


@dataclass(frozen=True)
class Down:
    host: str
    reason: str


def local_host(engine: Engine, settings: Settings, concurrent: int) -> BuildHost:
    """This machine's engine as the run's one host: --builds and --jobs, or the cores split."""
    builds, make_jobs = settings.split(concurrent)
    return BuildHost(LOCAL, engine, builds, make_jobs)


def configured(settings: Settings) -> list[Host]:
    """The [[hosts]] that --host names (every one when it names none), in pkgrun.toml's order;
    "local" stands for this machine's engine when it is not a configured name."""
    hosts = settings.config.hosts
    if not settings.hosts:
        return list(hosts)
    names = {host.name: host for host in hosts}
    unknown = [n for n in settings.hosts if n not in names and n != LOCAL]
    if unknown:
        raise UsageError(
            f"--host {unknown[0]}: no such host in {settings.config_file}",
            hint=f"choose from: {', '.join([*names, LOCAL])}",
        )
    chosen = dict.fromkeys(settings.hosts)
    return [names.get(n) or Host(name=LOCAL) for n in chosen]


def reach(
    settings: Settings, *, on_down: Callable[[Down], None] = lambda down: None
) -> tuple[list[BuildHost], list[Down]]:
    """The configured hosts that answer, sized by their answers, and those that do not. Every
    host is asked at once (a host that hangs costs its timeout, not the others' time). None
    answering is an error before any work."""
    wanted = configured(settings)
    engines = [_engine(host, settings) for host in wanted]
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        answers = list(pool.map(_ask, engines))
    up, down = [], []
    for host, engine, answer in zip(wanted, engines, answers, strict=True):
        if isinstance(answer, EngineDown):
            down.append(Down(host.name, answer.said))
            on_down(down[-1])
            continue
        if not engine.remote:  # this machine's podman: the runtime that runs here
            try:
                engine = settle_runtime(engine, settings.runtime)
            except ToolNotFound as exc:  # no runtime runs here: a host down, the others build
                if len(wanted) == 1:
                    raise
                down.append(Down(host.name, exc.message))
                on_down(down[-1])
                continue
        if host.name == LOCAL and host not in settings.config.hosts:  # sized as with no hosts
            up.append(BuildHost(LOCAL, engine, settings.builds or max(1, math.isqrt(settings.cores))))
            continue
        builds = host.builds or max(1, math.isqrt(answer))
        up.append(
            BuildHost(
                host.name,
                engine,
                builds,
                host.make_jobs or max(1, math.ceil(answer / builds)),
                frozenset(host.targets) if host.targets else None,
                host.arch,
            )
        )
    if not up:
        raise PkgrunError(
            "no build host answers: " + "; ".join(f"{d.host}: {d.reason}" for d in down),
            hint="start the hosts' engines (or their services) and check [[hosts]] in "
            f"{settings.config_file}; --host local builds on this machine",
        )
    return up, down


def _engine(host: Host, settings: Settings) -> Engine:
    if host.name == LOCAL and host not in settings.config.hosts:  # --host local: as with no hosts
        return detect_engine(settings.engine, settings.engine_urls, settings.ulimits)
    if host.url is None and host.connection is None:  # this machine's engine, named in pkgrun.toml
        return detect_engine(host.engine, {}, settings.ulimits)
    # a remote engine's limits are not this machine's: portable ones unless PKGRUN_ULIMITS says
    base = Engine(EngineName(host.engine), url=host.url, connection=host.connection)
    return Engine(base.name, base.url, base.connection, settings.ulimits or base.ulimits)


def _ask(engine: Engine) -> int | EngineDown:
    try:
        return engine_cpus(engine)
    except EngineDown as exc:
        return exc


def engine_failed(host: BuildHost, exc: PkgrunError) -> bool:
    """Whether ``exc`` is the failure of a command sent to ``host``'s engine (which a host that
    went away explains), rather than of something on this machine (rpm, rpmlint, publishing)."""
    if isinstance(exc, ContainerStartFailed):
        return exc.engine == host.engine
    failed = exc.failed if isinstance(exc, InstallTestFailed) else exc
    prefix = host.engine.argv()
    return isinstance(failed, CommandFailed) and failed.argv[: len(prefix)] == prefix


def answers(host: BuildHost) -> str | None:
    """None when ``host`` answers; else what its engine said."""
    try:
        engine_cpus(host.engine)
    except EngineDown as down:
        return down.said
    return None


# seconds between the questions that check remote hosts answer while they build
WATCH_INTERVAL = 20.0


class Watch:
    """Asks every remote host with a build running whether it answers, every ``interval``
    seconds, while a run lasts. A host that does not (it hangs, say, behind an ssh connection
    that nothing closes) has the engine commands sent to it killed: its builds then fail, find
    it gone, and run again elsewhere. Without this, such a build would wait for ever."""

    def __init__(self, hosts: Sequence[BuildHost], interval: float = WATCH_INTERVAL) -> None:
        self.hosts = [h for h in hosts if h.engine.remote]
        self.interval = interval
        self.busy: dict[str, int] = {h.name: 0 for h in hosts}
        self.gone: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @contextmanager
    def building(self, host: BuildHost) -> Iterator[None]:
        with self._lock:
            self.busy[host.name] += 1
        try:
            yield
        finally:
            with self._lock:
                self.busy[host.name] -= 1

    @contextmanager
    def running(self) -> Iterator[Watch]:
        thread = threading.Thread(target=self._loop, name="pkgrun-watch", daemon=True)
        if self.hosts:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            if thread.is_alive():
                thread.join(timeout=2 * ANSWER_TIMEOUT + 1)  # a question in flight ends by then
            for host in self.hosts:
                allow_processes(host.engine.argv())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for host in self.hosts:
                with self._lock:
                    idle = self.busy[host.name] == 0 or host.name in self.gone
                if idle:
                    continue
                # asked twice: one slow answer (a loaded host, a busy sshd) is not a dead host
                said = answers(host)
                if said is not None:
                    said = answers(host)
                if said is not None and not self._stop.is_set():
                    with self._lock:
                        self.gone[host.name] = said
                    stop_processes(host.engine.argv())
