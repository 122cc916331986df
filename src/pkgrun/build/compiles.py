"""The compile cache: the staged tree of a successful compile, kept by the digest of what the
compile depends on, so that a change to packaging alone repackages without compiling.

A build is a compile (unpack the source, install the packages of its [build] recipes, run the
build script, which installs into the staging directory) and a packaging (add [files.add],
package, verify, sign, lint, install-test, describe, publish). The compile depends on:

- the source's sha256 and its SOURCE_DATE_EPOCH;
- the build environment the script sees (name, version, arch, target, paths; not PKGRUN_JOBS,
  which must not change what is built) and the build script's name;
- the build image's identity: what it is made from, requirements included, the same on every
  build host (images.image_identity), so a compile kept from one host is reused on another;
- the content digests of the [build] recipes' packages;
- every file of the recipe directory, with its mode and link target as the container sees them
  (and every directory), except recipe.toml, the hook scripts and the [files.add] sources,
  which only packaging reads: the build never sees them (they go into the container
  after the compile), so what it cannot read cannot change what it makes; the build script is
  always an input, whatever else names it;
- pkgrun's compile scheme (how it unpacks, runs the script and keeps the tree: COMPILE_SCHEME,
  raised with any change to that) and version.

Hooks, [files], metadata, [requires], the iteration and the packager are packaging: changing
them reuses the kept tree. Each compile is ``<cache>/compiles/<digest>.tar`` (the staging
directory as the build script left it) beside ``<digest>.json`` (its inputs, the build image's
packages, when and on which host it was made). A use touches both, and storing a compile
prunes the least recently used ones down to the size limit (pkgrun.toml's [cache] compiles,
4 GiB by default). A build holds the compile it uses, from the look-up to its end: a hard
link in ``.held-<pid>-*``, which no prune (of this process or another) removes while that
process runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pkgrun import __version__
from pkgrun.build.cache import file_changes, mode_changes, recipe_files, recipe_modes
from pkgrun.build.plan import BuildPlan
from pkgrun.numerals import is_number

DEFAULT_MAX_BYTES = 4 << 30
# how a compile is made and kept and what its key holds (unpack_argv, the build's environment
# and ccache links, keep_argv and reuse_argv in compiling.py; the modes of the recipe's files):
# raise it when any of them changes (2: the modes became inputs, the container sees tree_mode)
COMPILE_SCHEME = 2
# build environment variables that do not change what the compile makes
_NOT_INPUTS = ("PKGRUN_JOBS", "CCACHE_MAXSIZE")
# what an interrupted store leaves, swept once it is this old
_STALE_SECONDS = 3600
# a process's holds: .held-<pid>-<random>, swept once that process is gone
_HELD = ".held-"


@dataclass(frozen=True)
class CompileInputs:
    source: str
    source_date_epoch: int
    env: dict[str, str]
    script: str
    build_requires: list[str]
    image: str  # the build image's identity (images.image_identity)
    files: dict[str, str]  # recipe files the build may read -> sha256 (a link: "-> target")
    packages: list[str] = field(default_factory=list)  # content digests of the [build] recipes' packages
    modes: dict[str, str] = field(default_factory=dict)  # the same files' and directories' modes
    pkgrun: str = __version__
    scheme: int = COMPILE_SCHEME

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def changes_from(self, recorded: Mapping[str, Any]) -> list[str]:
        """What differs from another compile's inputs, in words."""
        out = file_changes(self.files, recorded.get("files", {}))
        out += mode_changes(self.modes, recorded.get("modes"), self.files)
        mine = asdict(self)
        out += [
            _WORDS.get(key, key) + " changed"
            for key in mine
            if key not in ("files", "modes") and mine[key] != recorded.get(key)
        ]
        return out

    @property
    def subject(self) -> tuple[str, ...]:
        """What the compile is of: name, version, target."""
        return _subject(self.env)


_WORDS = {
    "source": "source checksum",
    "source_date_epoch": "SOURCE_DATE_EPOCH",
    "env": "build environment",
    "script": "build script",
    "build_requires": "build requirements",
    "image": "build image",
    "packages": "needed packages",
    "pkgrun": "pkgrun version",
    "scheme": "pkgrun's compile scheme",
}


def packaging_only(plan: BuildPlan) -> set[str]:
    """The recipe directory's files only packaging reads (relative paths): recipe.toml, the
    hooks, the [files.add] sources; never the build script."""
    recipe = plan.loaded.recipe
    named = {"recipe.toml", *(path for _, path in recipe.hooks.items()), *recipe.files.add.values()}
    return {posixpath.normpath(path) for path in named} - {posixpath.normpath(recipe.build.script)}


def compile_inputs(
    plan: BuildPlan, *, image: str, source_date_epoch: int, packages: Sequence[str] = ()
) -> CompileInputs:
    recipe = plan.loaded.recipe
    leave_out = packaging_only(plan)
    return CompileInputs(
        source=plan.source.sha256,
        source_date_epoch=source_date_epoch,
        env={k: v for k, v in plan.build_env.items() if k not in _NOT_INPUTS},
        script=recipe.build.script,
        build_requires=list(plan.build_requires),
        image=image,
        files={
            path: digest
            for path, digest in recipe_files(plan.loaded.directory).items()
            if path not in leave_out
        },
        packages=sorted(packages),
        modes={
            path: mode for path, mode in recipe_modes(plan.loaded.directory).items() if path not in leave_out
        },
    )


@dataclass(frozen=True)
class Kept:
    """A compile in the cache."""

    digest: str
    tree: Path  # the staging directory, as a tar archive
    facts: dict[str, Any]  # what compiles.json says: inputs, build packages, made, seconds

    @property
    def short(self) -> str:
        return self.digest[:12]

    @property
    def build_packages(self) -> list[tuple[str, str]]:
        return [(name, version) for name, version in self.facts["build_packages"]]

    def describe(self) -> str:
        made, took, host = self.facts.get("made", ""), self.facts.get("seconds"), self.facts.get("host")
        on = f" on {host}" if isinstance(host, str) and host else ""
        return f"key {self.short}, compiled{on} {made}" + (
            f" in {took:.0f}s" if isinstance(took, int | float) else ""
        )


class CompileCache:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory, self.max_bytes = directory, max_bytes

    def find(self, digest: str, touch: bool = True) -> Kept | None:
        """The kept compile of ``digest``, or None; one that is unreadable, or whose facts are
        not what store() writes, is removed (a compile is made again instead)."""
        tree, meta = self._paths(digest)
        try:
            facts = json.loads(meta.read_text())
            size = tree.stat().st_size
        except (OSError, ValueError):
            return None
        if not _sound(facts) or facts["size"] != size:
            self.evict(digest)
            return None
        if touch:  # used: the last to go when the cache is pruned
            now = time.time()
            for path in (tree, meta):
                with contextlib.suppress(OSError):
                    os.utime(path, (now, now))
        return Kept(digest, tree, facts)

    def holds(self) -> Path:
        """A private directory for this process's holds, on the cache's file system: pruning
        leaves it alone while this process runs, whatever process prunes."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{_HELD}{os.getpid()}-", dir=self.directory))

    def take(self, digest: str, directory: Path) -> Kept | None:
        """The kept compile of ``digest``, held in ``directory`` (see hold), or None."""
        kept = self.find(digest)
        return None if kept is None else self.hold(kept, directory)

    def hold(self, kept: Kept, directory: Path) -> Kept | None:
        """``kept`` with its archive linked into ``directory`` (a directory of holds()), so that
        pruning by another build or process cannot take it away while a build uses it; None when
        it went before it could be held."""
        held = directory / f"{kept.digest}.tar"
        try:
            os.link(kept.tree, held)
        except FileNotFoundError:  # pruned since it was found
            return None
        except OSError:  # a file system without hard links: a copy (an unlinked file reads on)
            try:
                shutil.copyfile(kept.tree, held)
            except FileNotFoundError:
                held.unlink(missing_ok=True)
                return None
        if held.stat().st_size != kept.facts["size"]:  # replaced meanwhile by something else
            held.unlink()
            return None
        return Kept(kept.digest, held, kept.facts)

    def evict(self, digest: str) -> None:
        for path in self._paths(digest):
            path.unlink(missing_ok=True)

    def store(
        self,
        inputs: CompileInputs,
        archive: Path,
        build_packages: Sequence[tuple[str, str]],
        seconds: float,
        host: str = "",
    ) -> Kept:
        """Keep ``archive`` (moved into the cache) as the compile of ``inputs``, made on
        ``host`` (its engine, in words)."""
        digest = inputs.digest()
        tree, meta = self._paths(digest)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        facts = {
            "inputs": asdict(inputs),
            "build_packages": [list(p) for p in build_packages],
            "made": time.strftime("%Y-%m-%d %H:%M", time.localtime()),
            "seconds": round(seconds, 1),
            "size": archive.stat().st_size,
            **({"host": host} if host else {}),
        }
        os.replace(archive, tree)
        with tempfile.NamedTemporaryFile("w", dir=self.directory, suffix=".tmp", delete=False) as fh:
            json.dump(facts, fh, indent=1)
        os.replace(fh.name, meta)  # the facts last: a tree without them is never found
        self.prune(keep=digest)
        return Kept(digest, tree, facts)

    def why_not(self, inputs: CompileInputs) -> str:
        """Why no compile of ``inputs`` is kept: what changed since the newest compile of the
        same name, version and target, or that there is none."""
        newest: tuple[float, dict[str, Any]] | None = None
        for meta in self.directory.glob("*.json"):
            try:
                facts = json.loads(meta.read_text())
                recorded = facts["inputs"]
                subject = _subject(recorded["env"])
                stamp = meta.stat().st_mtime
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if subject == inputs.subject and (newest is None or stamp > newest[0]):
                newest = (stamp, recorded)
        key = inputs.digest()[:12]
        if newest is None:
            return f"no compile of it is kept (key {key})"
        changes = inputs.changes_from(newest[1])
        return f"changed since the last kept compile: {', '.join(changes) or 'inputs differ'} (key {key})"

    def staging(self) -> Path:
        """A private directory to receive an archive in, on the cache's file system."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.directory))

    def prune(self, keep: str | None = None) -> list[str]:
        """Remove the least recently used compiles until the rest fit in max_bytes, and what an
        interrupted store left or a process that ended held; returns the digests removed (never ``keep``)."""
        stale = time.time() - _STALE_SECONDS
        leftovers = [*self.directory.glob(".incoming-*"), *self.directory.glob("*.tmp")]
        for leftover in leftovers + [p for p in self.directory.glob(f"{_HELD}*") if _abandoned(p)]:
            with contextlib.suppress(OSError):
                if leftover.name.startswith(_HELD) or leftover.lstat().st_mtime < stale:
                    if leftover.is_dir() and not leftover.is_symlink():
                        shutil.rmtree(leftover)
                    else:
                        leftover.unlink()
        entries = []
        for tree in self.directory.glob("*.tar"):
            try:
                st = tree.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, tree.stem))
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, digest in sorted(entries):
            if total <= self.max_bytes:
                break
            if digest == keep or not _is_digest(digest):
                continue
            self.evict(digest)
            total -= size
            removed.append(digest)
        return removed

    def _paths(self, digest: str) -> tuple[Path, Path]:
        if not _is_digest(digest):
            raise ValueError(f"not a compile digest: {digest!r}")
        return self.directory / f"{digest}.tar", self.directory / f"{digest}.json"


def _subject(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(env.get(k, "") for k in ("PKGRUN_NAME", "PKGRUN_VERSION", "PKGRUN_TARGET"))


def _abandoned(holds: Path) -> bool:
    """Whether the process that made the directory of holds ``holds`` is gone."""
    pid = holds.name.removeprefix(_HELD).split("-", 1)[0]
    if not is_number(pid):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process
        return False
    return False


def _is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _sound(facts: object) -> bool:
    """Whether ``facts`` are what store() writes (a foreign or damaged file is not trusted)."""
    if not isinstance(facts, dict) or not isinstance(facts.get("size"), int):
        return False
    packages = facts.get("build_packages")
    return isinstance(packages, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in packages
    )
