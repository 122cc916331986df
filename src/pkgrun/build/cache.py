"""The content-addressed build cache: a build is skipped when everything that goes into it is
what went into a package the repository already publishes.

The inputs of a build are the recipe directory's files (recipe, hooks, build script, config
files) with their modes and link targets as the container sees them, the source's checksum,
the version, the target and the identity of its base image (a hash of what it is made from,
the same on every build host: images.image_identity), the packager and its version, pkgrun's
version and inputs scheme, and the packages of the recipes it needs. Their digest is recorded
beside the repository (``<repo>/<dist>/pkgrun-builds.json``) when a build is published;
comparing the inputs, not only the digest, lets pkgrun say what changed. No engine is asked:
the nightly job decides what to build before it reaches any build host.
``Identities`` looks up the packagers' versions once per run.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pkgrun import __version__
from pkgrun.archive import tree_mode, walk
from pkgrun.build.plan import BuildPlan
from pkgrun.build.sources import sha256_file
from pkgrun.engine.images import image_identity
from pkgrun.numerals import is_number
from pkgrun.repo.data import read_index
from pkgrun.run import find_tool
from pkgrun.targets import Packager, Target

# how the inputs are recorded: raised when what they hold changes, so that a record made
# before can never match (1: before the modes were inputs)
INPUTS_SCHEME = 2


@dataclass(frozen=True)
class Inputs:
    files: dict[str, str]  # path in the recipe directory -> sha256 (a link: "-> target")
    source: str
    version: str
    iteration: str
    target: str
    image: str  # the identity of the target's base image (images.image_identity)
    packager: str
    pkgrun: str = __version__
    # needed recipe -> its package's content digest: signing it again changes nothing here
    recipes: dict[str, str] = field(default_factory=dict)
    # path in the recipe directory -> its mode as the container sees it (recipe_modes)
    modes: dict[str, str] = field(default_factory=dict)
    scheme: int = INPUTS_SCHEME

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def changes_from(self, recorded: Mapping[str, Any]) -> list[str]:
        """What differs from ``recorded`` (an earlier build's inputs), in words."""
        out = file_changes(self.files, recorded.get("files", {}))
        out += mode_changes(self.modes, recorded.get("modes"), self.files)
        words = {
            "source": "source checksum",
            "version": "version",
            "iteration": "iteration",
            "target": "target",
            "image": "build image",
            "packager": "packager",
            "pkgrun": "pkgrun version",
            "recipes": "needed packages",
            "scheme": "pkgrun's build inputs scheme",
        }
        out += [f"{label} changed" for key, label in words.items() if asdict(self)[key] != recorded.get(key)]
        return out


def file_changes(files: Mapping[str, str], recorded: Mapping[str, str]) -> list[str]:
    """What differs between two {path: digest} maps, path by path, in words."""
    out = []
    for path in sorted(set(files) | set(recorded)):
        if path not in recorded:
            out.append(f"{path} added")
        elif path not in files:
            out.append(f"{path} removed")
        elif files[path] != recorded[path]:
            old, new = recorded[path], files[path]
            if old.startswith("-> ") and new.startswith("-> "):
                out.append(f"{path} links to {new[3:]} (was {old[3:]})")
            else:
                out.append(f"{path} changed")
    return out


DIRECTORY = "directory"
_MODE_WORDS = {("0644", "0755"): "made executable", ("0755", "0644"): "no longer executable"}


def mode_changes(
    modes: Mapping[str, str], recorded: Mapping[str, str] | None, files: Mapping[str, str]
) -> list[str]:
    """What differs between two {path: mode} maps (recipe_modes), in words: a file made
    executable or no longer, an empty directory added or removed (a file added or removed, and
    the directories that hold it, file_changes says). None: a record from before modes were
    recorded, which its scheme says."""
    if recorded is None:
        return []
    out = []
    for path in sorted(set(modes) | set(recorded)):
        old, new = recorded.get(path), modes.get(path)
        if old == new:
            continue
        if old is not None and new is not None:
            out.append(f"{path} {_MODE_WORDS.get((old, new), f'mode {old} -> {new}')}")
        elif DIRECTORY in (old, new) and not any(f.startswith(path + "/") for f in files):
            out.append(f"directory {path} {'added' if old is None else 'removed'}")
    return out


def recipe_files(directory: Path) -> dict[str, str]:
    """Every file of a recipe directory, by relative path, with its sha256; a symlink by where it
    points ("-> target"), never followed: what is hashed is the recipe's own content, never a
    file elsewhere on the host (loading a recipe refuses links that lead out of it)."""
    files = {}
    for path in walk(directory):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            files[relative] = "-> " + os.readlink(path)
        elif stat.S_ISREG(path.lstat().st_mode):
            files[relative] = sha256_file(path)
    return files


def recipe_modes(directory: Path) -> dict[str, str]:
    """Every file and directory of a recipe directory, by relative path, with its mode as the
    container sees it (archive.tree_mode: "0755" or "0644"; "directory"). Links are in
    recipe_files by their targets; a link's own mode means nothing."""
    modes = {}
    for path in walk(directory):
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            modes[path.relative_to(directory).as_posix()] = DIRECTORY
        elif stat.S_ISREG(st.st_mode):
            modes[path.relative_to(directory).as_posix()] = f"{tree_mode(st.st_mode):04o}"
    return modes


def inputs_of(
    plan: BuildPlan, *, image: str, packager: str, recipes: Mapping[str, str] | None = None
) -> Inputs:
    return Inputs(
        files=recipe_files(plan.loaded.directory),
        source=plan.source.sha256,
        version=plan.version,
        iteration=plan.loaded.recipe.package.iteration,
        target=plan.target.name,
        image=image,
        packager=packager,
        recipes=dict(recipes or {}),
        modes=recipe_modes(plan.loaded.directory),
    )


def key(plan: BuildPlan) -> str:
    return f"{plan.name}@{plan.version}"


def entry(
    inputs: Inputs, nevra: str, file: str, iteration: str, seconds: float | None = None
) -> dict[str, Any]:
    """What the index records of a published build: its inputs, and the package they made (with
    the iteration it was built with, which `pkgrun rebuild` builds again), and how long the build
    took (the scheduler starts the longest first next time)."""
    return {
        **({"seconds": round(seconds, 1)} if seconds is not None else {}),
        "digest": inputs.digest(),
        "inputs": asdict(inputs),
        "nevra": nevra,
        "file": file,
        "iteration": iteration,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True)
class Decision:
    build: bool
    reason: str
    published: str | None = None  # the package the skipped build would have made


def decide(
    plan: BuildPlan,
    inputs: Inputs,
    dist_dir: Path,
    listed: set[str],
    index: Mapping[str, Any] | None = None,
) -> Decision:
    """Build or skip, and why. ``listed``: the file names the repository's metadata lists;
    ``index``: its build index (read from ``dist_dir`` when not given)."""
    entry = (read_index(dist_dir) if index is None else index).get(key(plan))
    if entry is None:
        return Decision(True, f"never built for {plan.target.name}")
    if entry.get("file") not in listed:
        return Decision(True, f"{entry.get('nevra')} is no longer published")
    if entry.get("digest") == inputs.digest():
        return Decision(False, "inputs unchanged", published=str(entry.get("nevra")))
    changes = inputs.changes_from(entry.get("inputs", {}))
    return Decision(True, "changed: " + (", ".join(changes) or "inputs differ"))


def family_published(iteration: str, published: list[str]) -> bool:
    """Whether ``iteration`` or a next release of it (``<iteration>.<n>``) is published."""
    return any(
        p == iteration
        or (
            p.startswith(iteration + ".")
            and is_number(p.rsplit(".", 1)[1])
            and p.count(".") == iteration.count(".") + 1
        )
        for p in published
    )


def next_iteration(iteration: str, published: list[str]) -> str:
    """The iteration for a rebuild whose inputs changed: the recipe's, or, when a package of
    that version and iteration is published already, the next ``<iteration>.<n>``, which rpm
    orders after it (3 < 3.1 < 3.2). A ``<iteration>.<n>`` published while ``<iteration>``
    itself is not (retention pruned it) counts too: the new release must order after it."""
    if not family_published(iteration, published):
        return iteration
    counters = [
        int(p.rsplit(".", 1)[1])
        for p in published
        if p.startswith(iteration + ".")
        and is_number(p.rsplit(".", 1)[1])
        and p.count(".") == iteration.count(".") + 1
    ]
    return f"{iteration}.{max(counters, default=0) + 1}"


class Identities:
    """What the build cache records of the images and packagers, looked up once per run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._packagers: dict[Packager, str] = {}
        self._nfpm: Path | None = None

    @property
    def nfpm(self) -> Path:
        with self._lock:
            if self._nfpm is None:
                self._nfpm = Path(
                    find_tool("nfpm", hint="nfpm comes with pkgrun's Python package: reinstall pkgrun")
                )
            return self._nfpm

    @staticmethod
    def image(target: Target) -> str:
        return image_identity(target, target.containerfile)

    def packager(self, packager: Packager) -> str:
        nfpm = self.nfpm if packager is Packager.NFPM else None
        with self._lock:
            if packager not in self._packagers:
                self._packagers[packager] = packager_identity(packager, nfpm)
            return self._packagers[packager]


def packager_identity(packager: Packager, nfpm: Path | None) -> str:
    """The packager and its version, as far as this host can tell without a container."""
    if packager is Packager.FPM:
        return "fpm (pinned by the build image's Containerfile)"
    from importlib.metadata import PackageNotFoundError, version

    assert nfpm is not None
    try:
        release = version("nfpm")
    except PackageNotFoundError:
        release = "unknown"
    digest = hashlib.sha256(nfpm.read_bytes()).hexdigest()[:12]
    return f"nfpm {release} ({digest})"
