"""The package that tells rpm what a Debian test image has (the `local` target's install test).

The `local` image's libraries and programs are Debian packages, which rpm's database does not
know of. Before the packages under test are installed by name, a small package is installed
that provides, to rpm and dnf, what the image really has: its packages' names (the recipes'
`apt` requirements), the paths the packages require that exist (an interpreter), and the
sonames they require that the image's libraries provide (read with rpm's own generator, as
rpmbuild would have written them). Anything else a package requires must come from a package
of the test, so that every requirement is checked and none is assumed.

It also owns the directories el's `filesystem` package owns (EL_FILESYSTEM_DIRS): on el a
package that installs into /etc/sysconfig or /usr/lib64/pkgconfig leaves nothing behind when it
is removed, and so it must on `local`, whose Debian image lacks some of them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pkgrun.archive import Item
from pkgrun.build.container_commands import existing_argv
from pkgrun.build.system_dirs import EL_FILESYSTEM_DIRS
from pkgrun.engine.container import Container
from pkgrun.rpm.query import RpmInfo
from pkgrun.run import find_tool, run

SHIM_NAME = "pkgrun-system-provides"
SHIM_DIR = "/pkgrun/shim"


# The sonames the image's shared libraries provide, as rpm's elf generator names them
# (libssl.so.3()(64bit), libc.so.6(GLIBC_2.34)(64bit)).
_IMAGE_SONAMES = r"""set -e
config=$(rpm --eval '%{_rpmconfigdir}'); attrs=$(mktemp -d)
cp "$config/fileattrs/elf.attr" "$attrs/"
find /usr/lib /usr/lib64 /lib /lib64 -xdev -type f -name '*.so*' 2>/dev/null \
    | "$config/rpmdeps" --define "_fileattrsdir $attrs" --provides
rm -rf "$attrs"
"""
# What the dynamic loader provides itself (glibc's spec says so by hand; no generator finds it)
_LOADER = ("rtld(GNU_HASH)",)

Step = Callable[..., str]  # the install test's step(label, command): its output

DPKG_FORMAT = "${db:Status-Abbrev}|${Package}|${Provides}\\n"


def image_names(listing: str) -> list[str]:
    """dpkg-query's listing (DPKG_FORMAT) -> the names the image's packages answer to: each
    package's, and the virtual names the installed ones provide (awk, which mawk provides), as
    apt counts them for a dependency (pure)."""
    names: list[str] = []
    for line in listing.splitlines():
        status, _, rest = line.partition("|")
        package, _, provides = rest.partition("|")
        names.append(package)
        if status.startswith("ii"):
            names += [p.split()[0] for p in provides.split(",") if p.strip()]
    return sorted(set(filter(None, names)))


def shim_config(
    provides: Sequence[str], directories: Sequence[str] = EL_FILESYSTEM_DIRS
) -> dict[str, object]:
    """nfpm's configuration of the package that tells rpm what the Debian image provides."""
    return {
        "name": SHIM_NAME,
        "arch": "noarch",
        "version": "1",
        "release": "1",
        "version_schema": "none",
        "maintainer": "pkgrun",
        "description": "What this image's own packages provide, for rpm's dependency checks",
        "license": "MIT",
        "provides": list(provides),
        "contents": [
            {"dst": d, "type": "dir", "file_info": {"mode": 0o755, "owner": "root", "group": "root"}}
            for d in directories
        ],
        "rpm": {"summary": "what the image provides"},
    }


def install(container: Container, step: Step, infos: Sequence[RpmInfo]) -> None:
    """Install the package that tells rpm what the image has, for the packages ``infos``."""
    names = image_names(container.capture(["dpkg-query", "-W", "-f", DPKG_FORMAT]).stdout)
    paths = sorted({r for info in infos for r in info.requires if r.startswith("/")})
    present = container.capture(existing_argv(paths)).stdout.split() if paths else []
    provides = [*names, *present, *image_sonames(step, infos)]
    with tempfile.TemporaryDirectory(prefix="pkgrun-shim-") as tmp:
        config = Path(tmp) / "nfpm.json"
        config.write_text(json.dumps(shim_config(provides)))
        shim = Path(tmp) / f"{SHIM_NAME}.rpm"
        run(
            [
                find_tool("nfpm"),
                "package",
                "--config",
                str(config),
                "--packager",
                "rpm",
                "--target",
                str(shim),
            ]
        )
        container.put([Item(f"{SHIM_DIR}/{shim.name}", source=shim)])
    step("tell rpm what the image provides", ["rpm", "-i", "--nodeps", f"{SHIM_DIR}/{shim.name}"])


def image_sonames(step: Step, infos: Sequence[RpmInfo]) -> list[str]:
    """The sonames the packages require that the image's libraries provide (and the loader's
    rtld(GNU_HASH)); one they require that neither the image nor a package of the test
    provides fails the install."""
    wanted = {r for info in infos for r in info.requires if not r.startswith("/") and "(" in r}
    if not wanted:
        return []
    found = step("find the image's sonames", ["sh", "-c", _IMAGE_SONAMES])
    provided = {line.strip() for line in found.splitlines() if line.strip()}
    if any(p.startswith("ld-linux") for p in provided):
        provided |= set(_LOADER)
    return sorted(wanted & provided)
