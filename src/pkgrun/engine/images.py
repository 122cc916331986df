"""The images builds run in.

Two layers, each made once on each engine (build host) and then reused:
- the target's base image: for el targets the project's Containerfile (toolchain + fpm) on top
  of the distribution's image; for `local` a Debian rootfs made by debootstrap on this machine
  (kept in the cache as an archive) and imported into each engine, because no registry is
  reachable where that target is used;
- the build image: the base image plus a recipe's build requirements.

An image's identity is a hash of what it is made from (the Containerfile or the debootstrap
command, the package family's install command, the requirements), not the ID an engine gives
it: two hosts that make it separately give it different IDs (its layers carry their own
times), while what it is made from, and so this identity, is the same everywhere. The build
cache records it, so a build has the same inputs on every host, and the image's tag carries
it, so a host finds the image it made before.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pkgrun.engine.container import Engine, build_image, image_id, import_image
from pkgrun.errors import PkgrunError
from pkgrun.report import Reporter
from pkgrun.run import find_tool, run_logged
from pkgrun.targets import Target, qualified

# Bumped when the way build images are made changes, so that old ones are not reused.
BUILD_IMAGE_SCHEME = "2"
DEBOOTSTRAP_SUITE = "bookworm"


def containerfile_text(name: str, args: Sequence[tuple[str, str]] = (), registry: str = "") -> str:
    """The Containerfile ``name``, each ARG of ``args`` (Target.build_args) given its value as
    the default, and its FROM image qualified with ``registry`` (Target.registry): both are
    then part of the text, and so of the image's identity."""
    text = resources.files("pkgrun").joinpath("containerfiles", name).read_text()
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("FROM ") and registry:  # FROM image [AS name]: the image qualified
            _, image, *rest = line.split()
            line = " ".join(["FROM", qualified(image, registry), *rest]) + "\n"
        for arg, value in args:
            if line.startswith(f"ARG {arg}="):
                line = f"ARG {arg}={json.dumps(value)}\n"
        lines.append(line)
    return "".join(lines)


def base_image_tag(target: Target, containerfile: str | None) -> str:
    """The image made from ``containerfile`` (the target's base image when None)."""
    if containerfile is None:
        return target.base_image
    text = containerfile_text(containerfile, target.build_args, target.registry)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    stem = containerfile.removesuffix(".Containerfile")
    return f"localhost/pkgrun-base-{stem}:{digest}"


def build_containerfile(base: str, target: Target, requirements: Sequence[str]) -> str:
    """The Containerfile of a build image. The exec form keeps requirement names arguments."""
    run_argv = ["sh", "-c", target.install, "sh", *requirements]
    return f"FROM {base}\nRUN {json.dumps(run_argv)}\n"


def base_definition(target: Target, containerfile: str | None) -> str:
    """What the image made from ``containerfile`` is made from, as text: the Containerfile, or
    for the local target's base (None) the debootstrap command that makes its root file system."""
    if containerfile is None:
        return " ".join(debootstrap_argv(Path("ROOTFS"))) + f" -> {target.base_image}"
    return containerfile_text(containerfile, target.build_args, target.registry)


def image_identity(target: Target, containerfile: str | None, requirements: Sequence[str] = ()) -> str:
    """The identity of the image made from ``containerfile`` with ``requirements`` installed:
    the same on every engine that makes it (see the module's docstring)."""
    key = json.dumps(
        {
            "scheme": BUILD_IMAGE_SCHEME,
            "base": base_definition(target, containerfile),
            "family": target.family.value,
            "install": target.install,
            "requirements": sorted(requirements),
        },
        sort_keys=True,
    )
    return "pkgrun:" + hashlib.sha256(key.encode()).hexdigest()


def build_image_tag(
    target: Target, containerfile: str | None, requirements: Sequence[str], kind: str = "build"
) -> str:
    """The tag of the image made from ``containerfile`` plus ``requirements``: its identity."""
    digest = image_identity(target, containerfile, requirements).removeprefix("pkgrun:")
    return f"localhost/pkgrun-{kind}-{target.name}:{digest[:16]}"


def debootstrap_argv(rootfs: Path, suite: str = DEBOOTSTRAP_SUITE) -> list[str]:
    return ["debootstrap", "--variant=minbase", suite, str(rootfs)]


# Two builds on one engine that need the same missing image make it once: the second waits.
_MAKING: dict[tuple[Engine | None, str], threading.Lock] = {}
_MAKING_LOCK = threading.Lock()


def _making(engine: Engine | None, tag: str) -> threading.Lock:
    """The lock for making ``tag`` on ``engine`` (None: a file on this machine)."""
    with _MAKING_LOCK:
        return _MAKING.setdefault((engine, tag), threading.Lock())


def ensure_base_image(
    engine: Engine,
    target: Target,
    containerfile: str | None,
    *,
    log: Path,
    reporter: Reporter,
    recipe: str,
    cache_dir: Path | None = None,
) -> str:
    """The tag of the image made from ``containerfile`` (target.containerfile for builds,
    target.runtime_containerfile for install tests and runtime images), made first on
    ``engine`` if it is missing there. ``cache_dir``: where the local target's root file system
    is kept, made once for every engine."""
    tag = base_image_tag(target, containerfile)
    if image_id(engine, tag) is not None:
        return tag
    with _making(engine, tag):
        if image_id(engine, tag) is None:
            _make_base_image(engine, target, containerfile, tag, log, reporter, recipe, cache_dir)
    return tag


def _make_base_image(
    engine: Engine,
    target: Target,
    containerfile: str | None,
    tag: str,
    log: Path,
    reporter: Reporter,
    recipe: str,
    cache_dir: Path | None,
) -> None:
    if containerfile is None:
        where = f" on {engine}" if engine.remote else ""
        with reporter.step(
            recipe, f"create the {target.name} base image{where} (debootstrap once, then import)"
        ):
            make_local_image(engine, tag, log, cache_dir)
    else:
        with reporter.step(recipe, f"build the image {tag} from {containerfile}"):
            build_image(
                engine,
                tag,
                containerfile_text(containerfile, target.build_args, target.registry),
                log=log,
                hint=f"the {target.name} image needs its registry and package repositories",
            )


def make_local_image(engine: Engine, tag: str, log: Path, cache_dir: Path | None = None) -> None:
    """A Debian 12 minbase rootfs, imported into the engine as ``tag``. The rootfs archive is
    made here, once, and kept in ``cache_dir``: every engine (a remote build host too) imports
    the same file."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="pkgrun-rootfs-") as tmp:
            import_image(engine, _debootstrap(tag, Path(tmp), log), tag, log=log)
        return
    images = cache_dir / "images"
    tarball = images / f"rootfs-{DEBOOTSTRAP_SUITE}-{BUILD_IMAGE_SCHEME}.tar"
    with _making(None, str(tarball)):  # one debootstrap, whichever engine asks
        if not tarball.is_file():
            images.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".rootfs-", dir=images) as tmp:
                os.replace(_debootstrap(tag, Path(tmp), log), tarball)
    import_image(engine, tarball, tag, log=log)


def _debootstrap(tag: str, work: Path, log: Path) -> Path:
    """A Debian minbase root file system made in ``work``, as an archive there."""
    find_tool("debootstrap", hint="install debootstrap (Debian/Ubuntu: apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise PkgrunError(
            f"creating the {tag} image needs root (debootstrap)",
            hint="run scripts/make-local-image.sh once as root (sudo), then build as you",
        )
    rootfs, tarball = work / "rootfs", work / "rootfs.tar"
    run_logged(debootstrap_argv(rootfs), log, hint="debootstrap needs Debian's package archive")
    run_logged(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], log)
    return tarball


def ensure_build_image(
    engine: Engine,
    target: Target,
    containerfile: str | None,
    base: str,
    requirements: Sequence[str],
    *,
    log: Path,
    reporter: Reporter,
    recipe: str,
    kind: str = "build",
) -> str:
    """``base`` (made from ``containerfile``) with ``requirements`` installed, built once on
    ``engine`` and then found by its tag, which is its identity."""
    if not requirements:
        return base
    tag = build_image_tag(target, containerfile, requirements, kind)
    if image_id(engine, tag) is not None:
        reporter.note(recipe, f"{kind} image {tag}: cached ({len(requirements)} requirements)")
        return tag
    with _making(engine, tag):
        if image_id(engine, tag) is not None:
            return tag
        where = f" on {engine}" if engine.remote else ""
        with reporter.step(recipe, f"install {len(requirements)} {kind} requirements into {tag}{where}"):
            build_image(
                engine,
                tag,
                build_containerfile(base, target, requirements),
                log=log,
                hint="check the names in ["
                + ("build.requires" if kind == "build" else "requires] and [hooks.requires")
                + "] for this target's package family",
            )
    return tag
