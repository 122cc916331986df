"""Each target's look-up script, run by sh with its package manager's commands standing in on
PATH: a name nothing knows is printed; a package spec (name.arch, name-version) or a capability
a package provides is found; a repository that cannot be read is exit status 3, never a name
reported missing (a failed query piped into grep read as "not found" before)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

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
