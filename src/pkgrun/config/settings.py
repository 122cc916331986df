"""Settings resolved once: from the command line, then the environment, then pkgrun.toml, then
pkgrun's defaults. The result is frozen and passed down; no other module reads the environment
or guesses a default of its own.

| setting | option | environment | pkgrun.toml | default |
| --- | --- | --- | --- | --- |
| recipes | --recipes | PKGRUN_RECIPES | | ./recipes |
| config file | --config | PKGRUN_CONFIG | | ./pkgrun.toml |
| repository | --repo | PKGRUN_REPO | | ./repo |
| releases kept | --keep | PKGRUN_KEEP | [nightly] keep (nightly) | all |
| mirrors | --mirror | PKGRUN_MIRROR | | none |
| cache | --cache-dir | PKGRUN_CACHE_DIR | | $XDG_CACHE_HOME/pkgrun |
| logs | | XDG_STATE_HOME | | ~/.local/state/pkgrun |
| make -j per build | --jobs | | [nightly] make-jobs | the cores split (split_cores) |
| builds at once | --builds | | [nightly] builds | the cores split |
| engine | --engine | PKGRUN_ENGINE | | podman, else docker |
| engine service | | CONTAINER_HOST, DOCKER_HOST | | the local engine |
| build hosts | --host NAME (repeated) | | [[hosts]] | every [[hosts]] entry; none: the local engine |
| container limits | | PKGRUN_ULIMITS | | the host's own |
| OCI runtime (local podman) | | PKGRUN_RUNTIME | | podman's own; runc where crun refuses the host |
| download limit | | PKGRUN_MAX_DOWNLOAD | | 2G |
| keep containers | | PKGRUN_KEEP_CONTAINER=1 | | no |
| signing key | --sign-key | PKGRUN_SIGN_KEY | [sign] key | pkgrun's own (pkgrun key init) |
| its GnuPG home | | GNUPGHOME | [sign] gnupg-home | gpg's default |
| unsigned | --unsigned | | | no: every package is signed |
| check skipped builds | --verify-skipped | | [nightly] verify-skipped | no |
| EPEL 7 mirror (el7 images) | | PKGRUN_EPEL7_BASEURL | | the EPEL 7 archive |
| registry of the el images | | PKGRUN_REGISTRY | | none: short names, each engine's own resolution |
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pkgrun.config.file import CONFIG_FILE, Config, load_config
from pkgrun.errors import UsageError
from pkgrun.numerals import is_number, number
from pkgrun.targets import DEFAULT_TARGET, Packager, Target, get_target

# The largest source pkgrun downloads unless told otherwise: a source is an archive, not a
# disk's worth of data from a hostile server.
DEFAULT_MAX_DOWNLOAD = 2 << 30


@dataclass(frozen=True)
class Settings:
    recipes: Path
    config_file: Path
    config: Config
    repo: Path
    out_dir: Path
    cache_dir: Path  # sources, script checks
    state_dir: Path  # logs
    mirrors: tuple[str, ...] = ()
    keep: int | None = None
    make_jobs: int | None = None  # make -j inside each build; None: split the cores
    builds: int | None = None  # builds at once; None: split the cores
    cores: int = 1
    engine: str | None = None  # podman or docker; None: whichever is installed
    # each engine's service (CONTAINER_HOST for podman, DOCKER_HOST for docker), when not local
    engine_urls: Mapping[str, str] = field(default_factory=dict)
    ulimits: tuple[str, ...] = ()  # empty: the host's own (local) or portable ones (remote)
    runtime: str | None = None  # this machine's podman's --runtime; None: pkgrun decides
    max_download: int = DEFAULT_MAX_DOWNLOAD
    keep_container: bool = False
    packager: Packager | None = None  # None: the target's
    install_test: bool = True
    lint: bool = True
    publish: bool = True
    force: bool = False
    sign_key: str | None = None  # a GnuPG key to sign with; None: pkgrun's own (pkgrun key init)
    gnupg_home: Path | None = None  # where that key is; None: gpg's default
    unsigned: bool = False  # publish without signing (explicit, and said on every run)
    verify_skipped: bool = False  # the nightly job rebuilds what it skips, to check it is identical
    recompile: bool = False  # compile even when the compile cache holds a compile of the same inputs
    hosts: tuple[str, ...] = ()  # --host: the [[hosts]] to build on ("local": this machine's engine)
    # pip's index settings, for sources found through pip's configured index
    pip: Mapping[str, str] = field(default_factory=dict)
    # the Containerfiles' ARGs a site sets (its own mirrors): PKGRUN_EPEL7_BASEURL
    build_args: tuple[tuple[str, str], ...] = ()
    registry: str = ""  # PKGRUN_REGISTRY: the registry the el images' names are qualified with

    @property
    def default_targets(self) -> tuple[str, ...]:
        """What a command builds for without --target: pkgrun.toml's [nightly] targets when it
        names them, else DEFAULT_TARGET."""
        nightly = self.config.nightly
        return tuple(nightly.targets) if "targets" in nightly.model_fields_set else (DEFAULT_TARGET,)

    def target(self, name: str | None) -> Target:
        """The target ``name`` (None: the first default target) with this site's values for its
        Containerfiles' ARGs and the registry its images come from."""
        target = get_target(name or self.default_targets[0])
        if self.build_args or self.registry:
            target = replace(target, build_args=self.build_args, registry=self.registry)
        return target

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def compile_cache_max(self) -> int:
        return size_bytes(self.config.cache.compiles)

    @property
    def ccache(self) -> str | None:
        """ccache's size for each recipe's volume (its own notation, 2G), None when it is off."""
        return None if size_bytes(self.config.cache.ccache) == 0 else self.config.cache.ccache

    def split(self, concurrent: int) -> tuple[int, int]:
        """(builds at once, make -j of each) for ``concurrent`` builds that could run together."""
        return split_cores(self.cores, concurrent, self.builds, self.make_jobs)

    def but(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def split_cores(cores: int, concurrent: int, builds: int | None, make_jobs: int | None) -> tuple[int, int]:
    """Builds at once and make -j of each, so that the machine is neither idle nor oversubscribed:
    one build gets every core; several share them, about sqrt(cores) at once (a build is not
    all compiling: fetching, packaging and testing leave its cores idle)."""
    if builds is None:
        builds = max(1, min(concurrent, math.isqrt(cores)))
    if make_jobs is None:
        make_jobs = max(1, math.ceil(cores / max(1, min(builds, concurrent))))
    return builds, make_jobs


def resolve(options: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Settings from the command line's ``options`` (argparse's names; absent ones are None),
    ``env`` and the configuration file they name."""

    def option(name: str) -> Any:
        return options.get(name)

    config_file = option("config") or Path(env.get("PKGRUN_CONFIG") or CONFIG_FILE)
    config = load_config(config_file)
    engine = option("engine") or env.get("PKGRUN_ENGINE") or None
    urls = {"podman": env.get("CONTAINER_HOST", ""), "docker": env.get("DOCKER_HOST", "")}
    packager = option("packager")
    return Settings(
        recipes=option("recipes") or Path(env.get("PKGRUN_RECIPES") or "recipes"),
        config_file=config_file,
        config=config,
        repo=option("repo") or Path(env.get("PKGRUN_REPO") or "repo"),
        out_dir=option("out") or Path("out"),
        cache_dir=option("cache_dir") or _xdg(env, "PKGRUN_CACHE_DIR", "XDG_CACHE_HOME", ".cache"),
        state_dir=_xdg(env, "", "XDG_STATE_HOME", ".local/state"),
        mirrors=tuple(option("mirror") or ()) + tuple(env.get("PKGRUN_MIRROR", "").split()),
        keep=_keep(option("keep"), env),
        make_jobs=_positive("--jobs", _first(option("jobs"), config.nightly.make_jobs)),
        builds=_positive("--builds", _first(option("builds"), config.nightly.builds_at_once)),
        cores=os.cpu_count() or 1,
        engine=engine,
        engine_urls={name: url for name, url in urls.items() if url},
        ulimits=ulimits_from(env.get("PKGRUN_ULIMITS")),
        runtime=env.get("PKGRUN_RUNTIME") or None,
        max_download=max_download(env.get("PKGRUN_MAX_DOWNLOAD")),
        keep_container=env.get("PKGRUN_KEEP_CONTAINER") == "1",
        packager=Packager(packager) if packager else None,
        install_test=not option("no_install_test"),
        lint=not option("no_lint"),
        publish=not option("no_publish"),
        force=bool(option("force")),
        sign_key=option("sign_key") or env.get("PKGRUN_SIGN_KEY") or config.sign.key,
        gnupg_home=_path(env.get("GNUPGHOME") or config.sign.gnupg_home),
        unsigned=bool(option("unsigned")),
        verify_skipped=bool(option("verify_skipped") or config.nightly.verify_skipped),
        recompile=bool(option("recompile")),
        hosts=tuple(option("host") or ()),
        pip={k: v for k, v in env.items() if k in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")},
        build_args=_build_args(env),
        registry=_registry(env.get("PKGRUN_REGISTRY", "")),
    )


# host[:port] then path parts, as image references name a registry (no scheme, no tag)
_REGISTRY_RE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*")


def _registry(value: str) -> str:
    """PKGRUN_REGISTRY: where the el images are pulled from, e.g. a site's mirror."""
    if value and not _REGISTRY_RE.fullmatch(value.rstrip("/")):
        raise UsageError(
            f"PKGRUN_REGISTRY={value!r} is not a registry",
            hint="write host[:port][/path] as image references name it (no scheme, no tag), or unset it",
        )
    return value.rstrip("/")


# A site's mirror for a Containerfile's ARG: the variable -> the ARG it sets
BUILD_ARG_VARIABLES = {"PKGRUN_EPEL7_BASEURL": "EPEL7_BASEURL"}
# no '&' or '|' (sed's), no '?' or '#' (the path goes on after it), no quotes, spaces or '$'
_BASE_URL_RE = re.compile(r"(https?|file)://[A-Za-z0-9._~:/%@+-]+")


def _build_args(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """PKGRUN_EPEL7_BASEURL: EPEL 7's base URL without $basearch (a mirror of the archive)."""
    out = []
    for variable, arg in BUILD_ARG_VARIABLES.items():
        value = env.get(variable)
        if not value:
            continue
        if not _BASE_URL_RE.fullmatch(value):
            raise UsageError(
                f"{variable}={value!r} is not a base URL",
                hint=f"write an http(s):// or file:// URL without quotes, spaces or '$' (the directory "
                f"that holds $basearch/), or unset {variable}",
            )
        out.append((arg, value.rstrip("/")))
    return tuple(out)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _xdg(env: Mapping[str, str], own: str, variable: str, fallback: str) -> Path:
    """$OWN, else $VARIABLE/pkgrun, else ~/FALLBACK/pkgrun."""
    if own and env.get(own):
        return Path(env[own])
    base = env.get(variable) or str(Path(env.get("HOME") or Path.home()) / fallback)
    return Path(base) / "pkgrun"


def _keep(value: int | None, env: Mapping[str, str]) -> int | None:
    if value is None and env.get("PKGRUN_KEEP"):
        text = env["PKGRUN_KEEP"]
        value = number(text)
        if value is None or value < 1:
            raise UsageError(
                f"PKGRUN_KEEP={text!r}: keep at least one release", hint="set PKGRUN_KEEP to 1 or more"
            )
    if value is not None and value < 1:
        raise UsageError(f"--keep {value}: keep at least one release", hint="use --keep 1 or more")
    return value


def _first(given: int | None, configured: int | None) -> int | None:
    """The option when given (0 included: it is refused, not replaced), else the configured value."""
    return configured if given is None else given


def _positive(flag: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise UsageError(f"{flag} {value}: give 1 or more")
    return value


def ulimits_from(text: str | None) -> tuple[str, ...]:
    """PKGRUN_ULIMITS: "nofile=1024:4096 nproc=4096:8192"."""
    if not text:
        return ()
    values = tuple(text.split())
    for value in values:
        name, _, limits = value.partition("=")
        parts = limits.split(":")
        numbers = 1 <= len(parts) <= 2 and all(is_number(p) for p in parts)
        if name not in ("nofile", "nproc") or not numbers:
            raise UsageError(
                f"PKGRUN_ULIMITS: {value!r} is not a limit",
                hint='write "nofile=SOFT:HARD nproc=SOFT:HARD", e.g. "nofile=1024:4096 nproc=4096:8192"',
            )
    return values


def size_bytes(text: str) -> int:
    """A size as pkgrun.toml writes it (checked there): bytes, or a number with K, M or G."""
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def max_download(text: str | None) -> int:
    """PKGRUN_MAX_DOWNLOAD: bytes, or a number with a K, M or G suffix."""
    text = (text or "").strip()
    if not text:
        return DEFAULT_MAX_DOWNLOAD
    digits = text[:-1] if text[-1].upper() in "KMG" else text
    if not is_number(digits) or int(digits) == 0:
        raise UsageError(
            f"PKGRUN_MAX_DOWNLOAD={text!r} is not a size", hint="write bytes, or a number with K, M or G: 4G"
        )
    return size_bytes(text)
