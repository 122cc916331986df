"""Which OCI runtime this machine's podman runs pkgrun's containers with: decided by pkgrun, as
it decides the containers' ulimits, so that a build works on a host without set-up by hand.

podman picks crun when it is installed. crun reads the layout as its libcrun does (the file
system at /sys/fs/cgroup: cgroup2 is unified; a tmpfs with cgroup2 at /sys/fs/cgroup/unified
is hybrid, as systemd mounts it with ``systemd.unified_cgroup_hierarchy=0``; else legacy) and
refuses a hybrid host whose cgroup2 hierarchy has controllers enabled (its cgroup.controllers
not empty): every container fails with "cgroups in hybrid mode not supported, drop all
controllers from cgroupv2". runc runs there. So on such a host, when podman's own choice is
crun, pkgrun passes ``--runtime runc`` to every podman command and says so once.

PKGRUN_RUNTIME overrides the choice (a runtime podman knows by name, or a path); a
containers.conf that names runc already is podman's own choice, and nothing is changed. docker
and engines reached over a service run the runtime their daemon or service is configured with.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from pkgrun.engine.container import Engine, EngineDown, EngineName, engine_info
from pkgrun.errors import PkgrunError, ToolNotFound, UsageError

MOUNTINFO = Path("/proc/self/mountinfo")
CGROUP_ROOT = "/sys/fs/cgroup"
HYBRID_ROOT = f"{CGROUP_ROOT}/unified"  # where crun looks for a hybrid host's cgroup2 hierarchy
# the controllers a hybrid host's cgroup2 hierarchy has, which crun wants none of
CONTROLLERS = Path(HYBRID_ROOT) / "cgroup.controllers"
# the runtime podman falls back to where crun refuses the host, and the one that refuses it
FALLBACK = "runc"
REFUSES_HYBRID = "crun"


class Layout(StrEnum):
    UNIFIED = "cgroup v2"
    LEGACY = "cgroup v1"
    HYBRID = "hybrid: cgroup v1 controllers with a cgroup v2 hierarchy beside them"
    NONE = "no cgroups mounted"


def cgroup_layout(mountinfo: str) -> Layout:
    """The cgroup layout a /proc/self/mountinfo describes, as crun tells it: by the file system
    mounted at /sys/fs/cgroup and at /sys/fs/cgroup/unified (the last mount on a point) (pure)."""
    kinds: dict[str, str] = {}
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, fs = before.split(), after.split()
        if sep and len(fields) >= 5 and fs:
            kinds[fields[4]] = fs[0]
    root = kinds.get(CGROUP_ROOT)
    if root == "cgroup2":
        return Layout.UNIFIED
    if root is None and not any(kind == "cgroup" for kind in kinds.values()):
        return Layout.NONE
    return Layout.HYBRID if kinds.get(HYBRID_ROOT) == "cgroup2" else Layout.LEGACY


def needs_fallback(layout: Layout, default: str, v2_controllers: str) -> bool:
    """Whether podman's own runtime (its name or path) refuses a host of this layout whose
    hybrid cgroup2 hierarchy has ``v2_controllers`` (its cgroup.controllers) (pure)."""
    return layout is Layout.HYBRID and Path(default).name == REFUSES_HYBRID and bool(v2_controllers.split())


def settle_runtime(
    engine: Engine, wanted: str | None, mountinfo: Path | None = None, controllers: Path | None = None
) -> Engine:
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
        v2_controllers = (controllers or CONTROLLERS).read_text() if layout is Layout.HYBRID else ""
    except OSError:
        return engine
    if not v2_controllers.split():  # podman's own choice runs: no question asked
        return engine
    default = engine_info(engine, "{{.Host.OCIRuntime.Name}}")
    if not needs_fallback(layout, default, v2_controllers):
        return engine
    why = f"{layout}, the cgroup v2 one with controllers: {' '.join(v2_controllers.split())}"
    _check_known(
        engine,
        FALLBACK,
        ToolNotFound,
        f"podman's runtime {default} refuses this host's cgroups ({why}) and podman finds no {FALLBACK}",
        hint=f"install {FALLBACK} (apt-get install runc, dnf install runc), or set PKGRUN_RUNTIME "
        "to a runtime that runs here",
    )
    note = (
        f"podman's runtime {default} refuses this host's cgroups ({why}): pkgrun runs podman "
        f"with --runtime {FALLBACK} (PKGRUN_RUNTIME chooses another)"
    )
    return replace(engine, runtime=FALLBACK, runtime_note=note)


def _check_known(engine: Engine, runtime: str, failure: type[PkgrunError], what: str, hint: str) -> None:
    """Fail before any work unless podman finds ``runtime``."""
    try:
        engine_info(replace(engine, runtime=runtime), "{{.Host.OCIRuntime.Path}}")
    except EngineDown as exc:
        raise failure(f"{what} ({exc.said})", hint=hint) from None
