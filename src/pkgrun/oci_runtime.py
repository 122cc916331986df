"""Which OCI runtime this machine's podman runs pkgrun's containers with: decided by pkgrun, as
it decides the containers' ulimits, so that a build works on a host without set-up by hand.

podman picks crun when it is installed. crun refuses a host whose cgroups are mounted in the
hybrid layout (cgroup v1 controllers beside a cgroup2 hierarchy at /sys/fs/cgroup/unified, as
systemd sets up with ``systemd.unified_cgroup_hierarchy=0``): every container fails with "crun:
cgroups in hybrid mode not supported". runc runs there. So on such a host, when podman's own
choice is crun, pkgrun passes ``--runtime runc`` to every podman command and says so once.

PKGRUN_RUNTIME overrides the choice (a runtime podman knows by name, or a path); a
containers.conf that names runc already is podman's own choice, and nothing is changed. docker
and engines reached over a service run the runtime their daemon or service is configured with.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from pkgrun.container import Engine, EngineDown, EngineName, engine_info
from pkgrun.errors import PkgrunError, ToolNotFound, UsageError

MOUNTINFO = Path("/proc/self/mountinfo")
# the runtime podman falls back to where crun refuses the host, and the one that refuses it
FALLBACK = "runc"
REFUSES_HYBRID = "crun"


class Layout(StrEnum):
    UNIFIED = "cgroup v2"
    LEGACY = "cgroup v1"
    HYBRID = "hybrid: cgroup v1 controllers with a cgroup v2 hierarchy beside them"
    NONE = "no cgroups mounted"


def cgroup_layout(mountinfo: str) -> Layout:
    """The cgroup layout a /proc/self/mountinfo describes (pure)."""
    kinds = set()
    for line in mountinfo.splitlines():
        _, sep, after = line.partition(" - ")
        if sep and after.split():
            kinds.add(after.split()[0])
    if "cgroup" in kinds:
        return Layout.HYBRID if "cgroup2" in kinds else Layout.LEGACY
    return Layout.UNIFIED if "cgroup2" in kinds else Layout.NONE


def needs_fallback(layout: Layout, default: str) -> bool:
    """Whether podman's own runtime (its name or path) refuses a host of this layout (pure)."""
    return layout is Layout.HYBRID and Path(default).name == REFUSES_HYBRID


def settle_runtime(engine: Engine, wanted: str | None, mountinfo: Path | None = None) -> Engine:
    """``engine`` with the runtime its containers run with: ``wanted`` (PKGRUN_RUNTIME) when
    given, runc where podman's own choice refuses this host, else podman's own (None). The
    engine's ``runtime_note`` says why when pkgrun chose. Fails before any work when the host
    needs runc and podman finds none."""
    if engine.name is not EngineName.PODMAN or engine.remote:
        if wanted:
            raise UsageError(
                f"PKGRUN_RUNTIME={wanted} is for this machine's podman; {engine} runs the runtime "
                "its " + ("daemon" if engine.name is EngineName.DOCKER else "service") + " is set up with",
                hint="unset PKGRUN_RUNTIME, or set the runtime where the engine runs (docker: "
                "default-runtime in daemon.json; a podman service: runtime in its containers.conf)",
            )
        return engine
    if wanted:
        _check_known(
            engine,
            wanted,
            UsageError,
            f"PKGRUN_RUNTIME={wanted} is no runtime podman finds",
            hint="name a runtime podman knows (runc, crun) or the path of one, or unset PKGRUN_RUNTIME",
        )
        return replace(engine, runtime=wanted)
    try:
        layout = cgroup_layout((mountinfo or MOUNTINFO).read_text())
    except OSError:
        return engine
    if layout is not Layout.HYBRID:  # podman's own choice runs: no question asked
        return engine
    default = engine_info(engine, "{{.Host.OCIRuntime.Name}}")
    if not needs_fallback(layout, default):
        return engine
    _check_known(
        engine,
        FALLBACK,
        ToolNotFound,
        f"podman's runtime {default} refuses this host's cgroups ({layout}) and podman finds no {FALLBACK}",
        hint=f"install {FALLBACK} (apt-get install runc, dnf install runc), or set PKGRUN_RUNTIME "
        "to a runtime that runs here",
    )
    note = (
        f"podman's runtime {default} refuses this host's cgroups ({layout}): pkgrun runs podman "
        f"with --runtime {FALLBACK} (PKGRUN_RUNTIME chooses another)"
    )
    return replace(engine, runtime=FALLBACK, runtime_note=note)


def _check_known(engine: Engine, runtime: str, failure: type[PkgrunError], what: str, hint: str) -> None:
    """Fail before any work unless podman finds ``runtime``."""
    try:
        engine_info(replace(engine, runtime=runtime), "{{.Host.OCIRuntime.Path}}")
    except EngineDown as exc:
        raise failure(f"{what} ({exc.said})", hint=hint) from None
