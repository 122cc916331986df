"""The project's configuration, pkgrun.toml: what the nightly job builds and keeps. Every command
reads it (settings.py); options and the environment win over it.

```toml
[nightly]
targets = ["el7"]          # every recipe is built for each target
builds = 2                 # builds at once (default: about the square root of the cores)
make-jobs = 4              # make -j inside each build (default: the cores over the builds)
keep = 5                   # releases of each package the repository keeps
reports = "reports"        # where each run's report folder goes
keep-reports = 14          # the newest N reports are kept
verify-skipped = false     # rebuild what is skipped, to check it is identical to what is published
[nightly.versions.el7]     # versions other than the recipes' defaults, by target
php = "7.1.8"
[cache]
compiles = "4G"            # the compile cache's size limit (least recently used go first)
ccache = "2G"              # each recipe's compiler cache volume, per target; "0": no ccache
ccache-volume = "pkgrun-ccache"   # the volumes' name prefix: <prefix>-<target>-<recipe>
[sign]
key = "ops@example.org"    # a GnuPG key with its secret key (default: pkgrun's own, `pkgrun key init`)
gnupg-home = "/srv/pkgrun/gnupg"
[[hosts]]                  # build hosts: engines reached over their remote APIs (hosts.py)
name = "build1"
engine = "podman"          # or "docker"
url = "ssh://builder@build1.example.org/run/user/1000/podman/podman.sock"   # or connection = "NAME"
builds = 2                 # builds at once there (default: about the square root of its cores)
make-jobs = 4              # make -j of each (default: its cores over its builds)
targets = ["el8", "el9"]   # only these targets (default: every target)
arch = "x86_64"            # its machine: packages of another arch are not built there
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from pkgrun.errors import ConfigError, Problem
from pkgrun.recipe.schema import Arch
from pkgrun.recipe.tomlfile import read_toml
from pkgrun.recipe.validation import problems_from, scan
from pkgrun.targets import TARGETS

CONFIG_FILE = "pkgrun.toml"


class Nightly(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    targets: list[str] = Field(default_factory=lambda: ["el7"], min_length=1)
    builds: int | None = Field(None, ge=1)
    make_jobs: int | None = Field(None, ge=1, alias="make-jobs")
    # before builds and make-jobs were named apart, "jobs" meant builds at once: still read so
    jobs: int | None = Field(None, ge=1)
    keep: int | None = Field(5, ge=1)
    reports: str = "reports"
    keep_reports: int = Field(14, ge=1, alias="keep-reports")
    versions: dict[str, dict[str, str]] = {}
    # rebuild what is skipped as unchanged, and check it is identical to what is published
    verify_skipped: bool = Field(False, alias="verify-skipped")

    @property
    def builds_at_once(self) -> int | None:
        return self.builds or self.jobs


class Sign(BaseModel):
    """How published packages and metadata are signed (signing.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    key: str | None = None  # a GnuPG key ID, fingerprint or user ID with a secret key
    gnupg_home: str | None = Field(None, alias="gnupg-home")  # default: $GNUPGHOME, ~/.gnupg


# a size with its unit (K, M or G), or "0"
Size = Annotated[str, StringConstraints(pattern=r"^(0|[0-9]+[KMG])$")]


class Cache(BaseModel):
    """The compile cache and ccache (compiles.py, plan.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    compiles: Size = "4G"
    ccache: Size = "2G"
    ccache_volume: str = Field(
        "pkgrun-ccache", alias="ccache-volume", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


def _engine_url(value: str) -> str:
    if not re.fullmatch(r"(ssh|unix|tcp)://[^\s]{1,1024}", value):
        raise ValueError(
            f"{value!r} is not an engine's URL: write ssh://user@host/run/user/1000/podman/podman.sock "
            "(podman over ssh), ssh://user@host (docker over ssh), unix:///path/to.sock or tcp://host:port"
        )
    # docker over ssh runs the ssh client with the URL's user and host: neither may be an option
    where = value.split("://", 1)[1].split("/", 1)[0]
    if any(part.startswith("-") for part in where.replace("@", ":").split(":")):
        raise ValueError(f"{value!r}: a user or host name that starts with '-' would reach ssh as an option")
    return value


class Host(BaseModel):
    """A build host: an engine reached through its remote API (or this machine's own engine,
    with neither url nor connection)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Name
    engine: Literal["podman", "docker"] = "podman"
    # the engine's service: podman --url / docker --host (a socket path on that machine, reached
    # over ssh; or a unix socket here, or tcp)
    url: Annotated[str, AfterValidator(_engine_url)] | None = None
    # or a service set up by name: podman --connection (podman system connection add) /
    # docker --context (docker context create)
    connection: Name | None = None
    builds: int | None = Field(None, ge=1, le=256)
    make_jobs: int | None = Field(None, ge=1, le=1024, alias="make-jobs")
    targets: list[str] | None = Field(None, min_length=1)
    arch: Arch | None = None  # the machine's, as RPM names it (x86_64, aarch64)

    @model_validator(mode="after")
    def _one_way_to_reach_it(self) -> Host:
        if self.url is not None and self.connection is not None:
            raise ValueError("give url or connection, not both")
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    nightly: Nightly = Nightly()
    cache: Cache = Cache()
    sign: Sign = Sign()
    hosts: list[Host] = []


def load_config(file: Path) -> Config:
    """The configuration in ``file``; the defaults when it does not exist."""
    if not file.exists() and not file.is_symlink():
        return Config()
    data = read_toml(file, ConfigError, "configuration file")
    problems = scan(data, file)
    if problems:
        raise ConfigError(problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, file, Config)) from None
    problems = [
        Problem(file, f"nightly.targets[{i}]", f"unknown target {t!r}", f"choose from: {', '.join(TARGETS)}")
        for i, t in enumerate(config.nightly.targets)
        if t not in TARGETS
    ]
    problems += [
        Problem(file, f"nightly.versions.{t}", f"unknown target {t!r}", f"choose from: {', '.join(TARGETS)}")
        for t in config.nightly.versions
        if t not in TARGETS
    ]
    problems += [
        Problem(
            file, f"hosts[{i}].targets[{j}]", f"unknown target {t!r}", f"choose from: {', '.join(TARGETS)}"
        )
        for i, host in enumerate(config.hosts)
        for j, t in enumerate(host.targets or ())
        if t not in TARGETS
    ]
    names = [host.name for host in config.hosts]
    problems += [
        Problem(file, f"hosts[{i}].name", f"a second host named {name!r}", "give every host its own name")
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    if problems:
        raise ConfigError(problems)
    return config
