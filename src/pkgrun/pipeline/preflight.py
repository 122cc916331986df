"""What a run needs before its first build, checked before any work: the build hosts (this
machine's engine, answering, with a runtime that runs here; or the configured hosts, each asked
once, at once), every tool a build needs on this machine, and the key that signs. What pkgrun
decides here (a runtime, a host down, an unsigned run) is said once, through ``Say``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pkgrun.config.settings import Settings

if TYPE_CHECKING:
    from pkgrun.engine.container import Engine
    from pkgrun.pipeline.hosts import BuildHost, Down
    from pkgrun.targets import Target
    from pkgrun.trust.signing import SigningKey


class Say(Protocol):
    def note(self, text: str) -> None:
        """Something pkgrun decided for the user, said once."""
        ...

    def warning(self, text: str) -> None: ...


@dataclass(frozen=True)
class Ready:
    """A run that may start: its settings (unsigned, when it was decided here), where its builds
    run, the hosts found down, and its key."""

    settings: Settings
    hosts: Engine | list[BuildHost]
    down: list[Down]
    key: SigningKey | None


def preflight(settings: Settings, targets: Sequence[Target], say: Say) -> Ready:
    """Hosts, tools and key for a run of builds for ``targets``."""
    hosts, down = hosts_and_tools(settings, say)
    settings, key = signing_key(settings, say, targets)
    return Ready(settings, hosts, down, key)


def hosts_and_tools(settings: Settings, say: Say) -> tuple[Engine | list[BuildHost], list[Down]]:
    """Where the builds run, answering, and every tool a build needs here. Without [[hosts]]
    and --host: this machine's engine (one engine call); else the configured hosts, each asked
    once, at once (those that do not answer are down)."""
    from pkgrun.pipeline.hosts import reach

    if settings.config.hosts or settings.hosts:
        hosts, down = reach(
            settings, on_down=lambda d: say.warning(f"build host {d.host} is down for this run: {d.reason}")
        )
        tools(settings)
        for note in dict.fromkeys(host.engine.runtime_note for host in hosts if host.engine.runtime_note):
            say.note(note)
        return hosts, down
    return engine_and_tools(settings, say), []


def engine_and_tools(settings: Settings, say: Say) -> Engine:
    """This machine's engine, answering, and every tool a build needs."""
    engine = ready_engine(settings, say)
    tools(settings)
    return engine


def ready_engine(settings: Settings, say: Say) -> Engine:
    """The engine the settings name, answering, with the runtime that runs on this host (what
    pkgrun chose, it says once)."""
    from pkgrun.engine.container import check_engine, detect_engine
    from pkgrun.engine.oci_runtime import settle_runtime

    engine = detect_engine(settings.engine, settings.engine_urls, settings.ulimits)
    check_engine(engine)
    engine = settle_runtime(engine, settings.runtime)
    if engine.runtime_note:
        say.note(engine.runtime_note)
    return engine


def tools(settings: Settings) -> None:
    """The tools a build needs on this machine, whatever runs in its containers."""
    from pkgrun.build.autodeps import rpm_config_dir
    from pkgrun.build.lint import LINT_HINT
    from pkgrun.run import find_tool

    find_tool("rpm", hint="install rpm (Debian/Ubuntu: apt-get install rpm): pkgrun reads every RPM back")
    rpm_config_dir()  # rpmdeps, which generates every package's sonames
    if settings.publish:
        find_tool("createrepo_c", hint="createrepo_c comes with pkgrun's Python package: reinstall pkgrun")
    if settings.lint:
        find_tool("rpmlint", hint=LINT_HINT + ", or pass --no-lint")


def signing_key(
    settings: Settings, say: Say, targets: Sequence[Target]
) -> tuple[Settings, SigningKey | None]:
    """The key that signs for ``targets``, found and tried before any work, and the settings the
    run goes on with: unsigned only when asked for (--unsigned), or when nothing is published
    and there is no key; either is said."""
    from pkgrun.trust.signing import check_key, for_targets, no_key_error, resolve_key

    if settings.unsigned:
        if settings.publish:
            say.warning(
                "publishing UNSIGNED packages and metadata (--unsigned): servers must install them "
                "with gpgcheck=0, which the repository's .repo file now says"
            )
        return settings, None
    key = resolve_key(settings.sign_key, settings.gnupg_home, settings.state_dir)
    if key is None:
        if not settings.publish:
            say.warning("no signing key: the RPMs left in the output directory are unsigned")
            return settings.but(unsigned=True), None
        raise no_key_error()
    key = for_targets(key, targets)
    check_key(key)
    return settings, key
