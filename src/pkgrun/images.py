"""The images builds run in.

Two layers, each made once and then reused:
- the target's base image: for el targets the project's Containerfile (toolchain + fpm) on top
  of the distribution's image; for `local` a Debian rootfs made by debootstrap and imported,
  because no registry is reachable where that target is used;
- the build image: the base image plus a recipe's build requirements, tagged by a hash of
  (base image ID, package family, requirements), so a second build installs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pkgrun.container import Engine, build_image, image_id, import_image
from pkgrun.errors import PkgrunError
from pkgrun.report import Reporter
from pkgrun.run import find_tool, run_logged
from pkgrun.targets import Target

# Bumped when the way build images are made changes, so that old ones are not reused.
BUILD_IMAGE_SCHEME = "1"


def containerfile_text(name: str) -> str:
    return resources.files("pkgrun").joinpath("containerfiles", name).read_text()


def base_image_tag(target: Target, containerfile: str | None) -> str:
    """The image made from ``containerfile`` (the target's base image when None)."""
    if containerfile is None:
        return target.base_image
    digest = hashlib.sha256(containerfile_text(containerfile).encode()).hexdigest()[:12]
    stem = containerfile.removesuffix(".Containerfile")
    return f"localhost/pkgrun-base-{stem}:{digest}"


def build_containerfile(base: str, target: Target, requirements: Sequence[str]) -> str:
    """The Containerfile of a build image. The exec form keeps requirement names arguments."""
    run_argv = ["sh", "-c", target.install, "sh", *requirements]
    return f"FROM {base}\nRUN {json.dumps(run_argv)}\n"


def build_image_tag(target: Target, base_id: str, requirements: Sequence[str], kind: str = "build") -> str:
    key = json.dumps(
        {
            "scheme": BUILD_IMAGE_SCHEME,
            "base": base_id,
            "family": target.family.value,
            "install": target.install,
            "requirements": sorted(requirements),
        },
        sort_keys=True,
    )
    return f"localhost/pkgrun-{kind}-{target.name}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def debootstrap_argv(rootfs: Path, suite: str = "bookworm") -> list[str]:
    return ["debootstrap", "--variant=minbase", suite, str(rootfs)]


def ensure_base_image(
    engine: Engine, target: Target, containerfile: str | None, *, log: Path, reporter: Reporter, recipe: str
) -> str:
    """The tag of the image made from ``containerfile`` (target.containerfile for builds,
    target.runtime_containerfile for install tests and runtime images), made first if it is
    missing."""
    tag = base_image_tag(target, containerfile)
    if image_id(engine, tag) is not None:
        return tag
    if containerfile is None:
        with reporter.step(recipe, f"create the {target.name} base image (debootstrap, about a minute)"):
            make_local_image(engine, tag, log)
    else:
        with reporter.step(recipe, f"build the image {tag} from {containerfile}"):
            build_image(
                engine,
                tag,
                containerfile_text(containerfile),
                log=log,
                hint=f"the {target.name} image needs its registry and package repositories",
            )
    return tag


def make_local_image(engine: Engine, tag: str, log: Path) -> None:
    """A Debian 12 minbase rootfs, imported into the engine as ``tag``."""
    find_tool("debootstrap", hint="install debootstrap (Debian/Ubuntu: apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise PkgrunError(
            f"creating the {tag} image needs root (debootstrap)",
            hint="run scripts/make-local-image.sh once as root (sudo), then build as you",
        )
    with tempfile.TemporaryDirectory(prefix="pkgrun-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        tarball = Path(tmp) / "rootfs.tar"
        run_logged(debootstrap_argv(rootfs), log, hint="debootstrap needs Debian's package archive")
        run_logged(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], log)
        import_image(engine, tarball, tag, log=log)


def ensure_build_image(
    engine: Engine,
    target: Target,
    base: str,
    requirements: Sequence[str],
    *,
    log: Path,
    reporter: Reporter,
    recipe: str,
    kind: str = "build",
) -> str:
    """``base`` with ``requirements`` installed, built once and then found by its hash."""
    if not requirements:
        return base
    base_id = image_id(engine, base)
    if base_id is None:
        raise PkgrunError(f"base image {base} disappeared", hint="run the build again")
    tag = build_image_tag(target, base_id, requirements, kind)
    if image_id(engine, tag) is not None:
        reporter.note(recipe, f"{kind} image {tag}: cached ({len(requirements)} requirements)")
        return tag
    with reporter.step(recipe, f"install {len(requirements)} {kind} requirements into {tag}"):
        build_image(
            engine,
            tag,
            build_containerfile(base, target, requirements),
            log=log,
            hint="check the names in [build.requires] for this target's package family",
        )
    return tag
