"""The limits pkgrun gives every container (--ulimit): explicit, so that an engine never asks the
kernel for more than the host allows (podman's defaults can exceed a host's hard limits, and
runc then fails with "error setting rlimit")."""

from __future__ import annotations

from pathlib import Path

# Limits for a container on an engine pkgrun cannot look at (a remote service): what any Linux
# host's hard limits allow (the kernel's default hard nofile is 4096).
PORTABLE_ULIMITS = ("nofile=1024:4096", "nproc=4096:8192")


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
