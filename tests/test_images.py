"""The images pkgrun builds: their Containerfiles (golden, and linted with hadolint, the one real
check the el images get where no registry is reachable) and their content-addressed tags."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pkgrun.engine.images import (
    base_image_tag,
    build_containerfile,
    build_image_tag,
    containerfile_text,
    debootstrap_argv,
    image_identity,
)
from pkgrun.install.runtime_image import containerfile, install_command
from pkgrun.run import find_tool
from pkgrun.targets import TARGETS

PROJECT = Path(__file__).resolve().parent.parent


def hadolint(text: str, tmp_path: Path) -> str:
    file = tmp_path / "Containerfile"
    file.write_text(text)
    result = subprocess.run(
        [find_tool("hadolint"), "--no-color", "--config", str(PROJECT / ".hadolint.yaml"), str(file)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_build_image_containerfile_keeps_requirements_as_arguments(tmp_path: Path) -> None:
    text = build_containerfile("localhost/base:1", TARGETS["el9"], ["gcc", "openssl-devel >= 3"])
    assert text == (
        "FROM localhost/base:1\n"
        'RUN ["sh", "-c", "dnf install -y \\"$@\\" && dnf clean all", "sh", "gcc", "openssl-devel >= 3"]\n'
    )
    hadolint(text, tmp_path)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("target", list(TARGETS))
def test_runtime_image_containerfile(target: str, signed: bool, tmp_path: Path) -> None:
    install = install_command(TARGETS[target], {"nginx-1.0-1.x86_64.rpm": "nginx-0:1.0-1.x86_64"}, signed)
    text = containerfile("localhost/base:1", install)
    run = next(line for line in text.splitlines() if line.startswith("RUN "))
    assert json.loads(run.removeprefix("RUN "))[:2] == ["sh", "-c"]  # exec form: names stay arguments
    script = install[2]
    if signed:  # only what carries the repository's signature is installed
        key = "/tmp/pkgrun-repo/RPM-GPG-KEY-pkgrun"
        assert (
            f"rpm --import {key}" in script or f"gpgcheck=1\\nrepo_gpgcheck=1\\ngpgkey=file://{key}" in script
        )
        assert "_pkgverify_level signature" in script or "gpgcheck=1" in script
    else:
        assert "gpgcheck=0" in script or "_pkgverify_level" not in script
    hadolint(text, tmp_path)


@pytest.mark.parametrize("name", sorted(p.name for p in (PROJECT / "src/pkgrun/containerfiles").iterdir()))
def test_the_el_containerfiles_lint_clean(name: str, tmp_path: Path) -> None:
    hadolint(containerfile_text(name), tmp_path)


def test_tags_are_content_addressed() -> None:
    el7 = base_image_tag(TARGETS["el7"], "el7.Containerfile")
    assert el7.startswith("localhost/pkgrun-base-el7:") and len(el7.rsplit(":", 1)[1]) == 12
    assert base_image_tag(TARGETS["local"], None) == "localhost/pkgrun-local:bookworm"
    one = build_image_tag(TARGETS["local"], None, ["gcc", "make"])
    assert one == build_image_tag(TARGETS["local"], None, ["make", "gcc"])  # order does not matter
    assert one != build_image_tag(TARGETS["local"], None, ["gcc"])
    el8 = build_image_tag(TARGETS["el8"], "el8.Containerfile", ["gcc", "make"])
    assert el8.startswith("localhost/pkgrun-build-el8:") and el8 != one
    # the tag is the image's identity: what it is made from, never an engine's ID for it
    assert one.rsplit(":", 1)[1] == image_identity(TARGETS["local"], None, ["gcc", "make"])[7:23]
    assert debootstrap_argv(Path("/r")) == ["debootstrap", "--variant=minbase", "bookworm", "/r"]
