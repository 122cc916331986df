"""Each target's look-up script, run by sh with its package manager's commands standing in on
PATH: a name nothing knows is printed; a package spec (name.arch, name-version) or a capability
a package provides is found; a repository that cannot be read is exit status 3, never a name
reported missing (a failed query piped into grep read as "not found" before)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers import require_tools
from pkgrun.install.lookup import parse_lookup
from pkgrun.targets import TARGETS

# what the stand-ins know: KNOWN matches a package spec, PROVIDED only a capability query
KNOWN = "gcc gcc.i686 make-4.3"
PROVIDED = "libc.so.6()(64bit) /bin/sh"

_RPM_QUERY = """#!/bin/sh
case "$*" in *makecache*) [ -z "$FAIL_UPDATE" ]; exit;; esac
if [ -n "$FAIL_QUERY" ]; then echo "Error: Failed to download metadata for repo" >&2; exit 1; fi
for last; do :; done
case "$*" in *--whatprovides*) list=$PROVIDED;; *) list=$KNOWN;; esac
for k in $list; do [ "$k" = "$last" ] && echo "$last-1.0-1.x86_64"; done
exit 0
"""
_APT_GET = """#!/bin/sh
if [ "$1" = update ]; then [ -z "$FAIL_UPDATE" ]; exit; fi
if [ -n "$FAIL_QUERY" ]; then echo "E: Unmet dependencies" >&2; exit 100; fi
for last; do :; done
for k in $KNOWN; do [ "$k" = "$last" ] && exit 0; done
echo "E: Unable to locate package $last" >&2
exit 100
"""


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bin")
    for name, text in {
        "dnf": _RPM_QUERY,
        "yum": _RPM_QUERY,
        "repoquery": _RPM_QUERY,
        "apt-get": _APT_GET,
    }.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o755)
    return directory


def look_up(bin_dir: Path, script: str, names: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KNOWN": KNOWN,
        "PROVIDED": PROVIDED,
    }
    return subprocess.run(
        ["sh", "-c", script, "sh", *names], env={**environment, **env}, capture_output=True, text=True
    )


SCRIPTS = sorted({target.lookup: name for name, target in TARGETS.items()}.items())


@pytest.mark.parametrize(("script", "target"), SCRIPTS, ids=[target for _, target in SCRIPTS])
def test_names_found_and_missing(bin_dir: Path, script: str, target: str) -> None:
    rpm_family = TARGETS[target].family.value == "yum"
    names = ["gcc", "gcc.i686", "make-4.3", "nosuch", "gcc-nosuch"]
    if rpm_family:  # capabilities are what rpm's package managers resolve
        names += ["libc.so.6()(64bit)", "/bin/sh", "libnosuch.so.1()(64bit)"]
    done = look_up(bin_dir, script, names)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "nosuch",
        "gcc-nosuch",
        *(["libnosuch.so.1()(64bit)"] if rpm_family else []),
    ]


@pytest.mark.parametrize(("script", "target"), SCRIPTS, ids=[target for _, target in SCRIPTS])
def test_unreadable_repositories_are_exit_status_3_and_no_name_missing(
    bin_dir: Path, script: str, target: str
) -> None:
    updated = look_up(bin_dir, script, ["gcc", "nosuch"], FAIL_UPDATE="1")
    assert (updated.returncode, updated.stdout) == (3, "")
    queried = look_up(bin_dir, script, ["gcc", "nosuch"], FAIL_QUERY="1")
    if TARGETS[target].family.value == "yum":
        assert (queried.returncode, queried.stdout) == (3, "")
    else:  # apt's failure for a known name is not "unknown": the install says what it is
        assert (queried.returncode, queried.stdout) == (0, "")


# This machine's own apt and dpkg answer (its package lists, its installed packages); only
# `apt-get update` is skipped, and apt-get install only simulates, as the look-up asks it to.
_REAL_APT = """#!/bin/sh
[ "$1" = update ] && exit 0
exec /usr/bin/apt-get "$@"
"""


def installed_providers(name: str) -> list[str]:
    """The installed packages that provide ``name``, as dpkg says."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Package}|${Provides}\\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [
        line[3:].split("|")[0]
        for line in out.splitlines()
        if line.startswith("ii ")
        and name in [p.split()[0] for p in line.split("|")[1].split(",") if p.strip()]
    ]


def test_virtual_names_on_a_real_debian(tmp_path: Path) -> None:
    """On this machine's Debian: awk, a virtual name an installed package provides (mawk), is
    known, though apt says it has no installation candidate; mail-transport-agent, a virtual
    name with several providers none of which is installed, comes back with them; a name apt
    knows nothing of, with none; and the install script leaves awk out of what apt installs."""
    require_tools("apt-get", "apt-cache", "dpkg-query")
    if not installed_providers("awk"):
        pytest.skip("no installed package provides awk here")
    (tmp_path / "apt-get").write_text(_REAL_APT)
    (tmp_path / "apt-get").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    names = ["awk", "mawk", "mail-transport-agent", "pkgrun-no-such-package"]
    done = subprocess.run(
        ["sh", "-c", TARGETS["local"].lookup, "sh", *names], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    missing = parse_lookup(done.stdout)
    assert "awk" not in missing and "mawk" not in missing
    assert missing["pkgrun-no-such-package"] == []
    # which packages provide it, apt knows from the package lists (a machine whose lists were
    # removed, as images do, knows only what is installed)
    policy = subprocess.run(["apt-cache", "policy", "postfix"], capture_output=True, text=True).stdout
    if installed_providers("mail-transport-agent"):
        assert "mail-transport-agent" not in missing
    elif "Candidate: (none)" in policy or not policy.strip():
        assert missing["mail-transport-agent"] == []
    else:
        assert {"exim4-daemon-light", "postfix"} <= set(missing["mail-transport-agent"])

    # the install line: apt-get (a stand-in that records) is given what nothing installed provides
    # (and rm, which the line ends with, is one too: this machine's package lists stay)
    (tmp_path / "apt-get").write_text('#!/bin/sh\necho "$@" >> "$RECORD"\n')
    (tmp_path / "rm").write_text('#!/bin/sh\necho "rm $*" >> "$RECORD"\n')
    (tmp_path / "rm").chmod(0o755)
    record = tmp_path / "record"
    script = TARGETS["local"].install
    recorded = {**env, "RECORD": str(record)}
    subprocess.run(["sh", "-c", script, "sh", "awk", "pkgrun-no-such-package"], env=recorded, check=True)
    update, install, remove = record.read_text().splitlines()
    assert (update, install) == ("update", "install -y --no-install-recommends pkgrun-no-such-package")
    assert remove.startswith("rm -rf /var/lib/apt/lists/")
    record.unlink()
    subprocess.run(["sh", "-c", script, "sh", "awk"], env={**env, "RECORD": str(record)}, check=True)
    assert not record.exists()  # nothing to install: apt is not even updated


def test_a_virtual_name_s_providers_are_in_the_error() -> None:
    from pkgrun.install.lookup import Names, UnknownPackages

    missing = parse_lookup("mail-transport-agent\tpostfix exim4-daemon-light \nnosuch\t\n")
    assert missing == {"mail-transport-agent": ["postfix", "exim4-daemon-light"], "nosuch": []}
    error = UnknownPackages(
        Path("recipes/x/recipe.toml"),
        [(Names("requires.apt", ("mail-transport-agent", "nosuch")), ["mail-transport-agent", "nosuch"])],
        TARGETS["local"],
        missing,
    )
    said = "mail-transport-agent (a virtual package: name one of postfix, exim4-daemon-light), nosuch"
    assert f"requires.apt: {said}" in str(error)


def test_the_install_test_shim_answers_to_what_installed_packages_provide() -> None:
    """On local, rpm learns what the Debian image has from a package of names: the packages',
    and the virtual names installed ones provide (a recipe's `awk`, which mawk provides); one
    removed (its configuration left, "rc") provides nothing any more."""
    from pkgrun.install.shim import DPKG_FORMAT, image_names

    listing = (
        "ii |mawk|awk\nii |exim4-daemon-light|mail-transport-agent, exim4-localscanapi-6.0 (= 1)\n"
        "rc |gawk|awk\n"
    )
    assert image_names(listing) == [
        "awk",
        "exim4-daemon-light",
        "exim4-localscanapi-6.0",
        "gawk",
        "mail-transport-agent",
        "mawk",
    ]
    real = subprocess.run(["dpkg-query", "-W", "-f", DPKG_FORMAT], capture_output=True, text=True, check=True)
    assert (installed_providers("awk") != []) == ("awk" in image_names(real.stdout))
