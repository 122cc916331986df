"""Installing by name, as a server does, and saying why another repository's package won.

A server runs ``dnf install nginx`` (``yum`` on el7) with the distribution's repositories and
EPEL enabled beside pkgrun's. The install test does the same in the target's own image: pkgrun's
packages are offered from repositories of their own (the published release, then the new
build), with the settings of pkgrun's .repo files (Target.repo_settings), and the package that
lands must be the NEVRA pkgrun built. When it is not, the offers of every enabled repository
(with and without modular filtering) say why: a higher epoch or version elsewhere with no
priority ahead of it, a module stream that hides pkgrun's, or a priority ahead of pkgrun's.

Everything here is pure: argv, the test repositories' .repo text, and the explanation.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pkgrun.numerals import number
from pkgrun.rpm.evr import EVR
from pkgrun.targets import Target

# The test's repositories inside the container: the published release and the new build
PUBLISHED_REPO = "pkgrun-published"
NEW_REPO = "pkgrun-new"
OURS = (PUBLISHED_REPO, NEW_REPO)
REPOS_DIR = "/etc/yum.repos.d"  # read by yum, el's dnf and Debian's dnf alike
REPO_FILE = f"{REPOS_DIR}/pkgrun-install-test.repo"
# rpm's query of one installed package as a NEVRA (epoch 0 when the header has none)
NEVRA_FORMAT = "%{NAME}-%|EPOCH?{%{EPOCH}}:{0}|:%{VERSION}-%{RELEASE}.%{ARCH}\\n"
_OFFER_FORMAT = "%{repoid}\\t%{name}-%{epoch}:%{version}-%{release}.%{arch}\\n"
# What a repository id and a NEVRA can be (yum's and rpm's characters): anything else in a
# package manager's answer, or in a record, is not shown (no terminal escapes, no new lines).
_REPO_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_NEVRA_RE = re.compile(
    r"[A-Za-z0-9._+-]{1,255}-[0-9]{1,10}:[A-Za-z0-9._+~^]{1,255}-[A-Za-z0-9._+~^]{1,255}\.[A-Za-z0-9_]{1,32}"
)


@dataclass(frozen=True)
class Offer:
    """A package a repository offers: its repository and NEVRA (name-epoch:version-release.arch)."""

    repo: str
    nevra: str

    @property
    def evr(self) -> EVR:
        return nevra_evr(self.nevra)


def nevra_evr(nevra: str) -> EVR:
    """name-epoch:version-release.arch -> its EVR."""
    rest, release = nevra.rsplit("-", 1)
    epoch_version = rest.rsplit("-", 1)[1]
    epoch, _, version = epoch_version.rpartition(":")
    return EVR(number(epoch) or 0 if epoch else 0, version, release.rsplit(".", 1)[0])


def repo_text(target: Target, repos: Sequence[tuple[str, str]], key: str | None) -> str:
    """The test's .repo file: each (id, directory) a repository with the settings of pkgrun's
    .repo files; packages checked against ``key`` (a file in the container) when given. The
    test's metadata is made on this machine for the test, and not signed."""
    checks = f"gpgcheck=1\ngpgkey=file://{key}\n" if key else "gpgcheck=0\n"
    settings = "".join(f"{line}\n" for line in target.repo_settings)
    return "".join(
        f"[{repo_id}]\nname=pkgrun install test: {repo_id}\nbaseurl=file://{directory}\nenabled=1\n"
        f"{checks}repo_gpgcheck=0\n{settings}metadata_expire=0\n\n"
        for repo_id, directory in repos
    )


def install_argv(target: Target, name: str, *, upgrade: bool = False, only: str | None = None) -> list[str]:
    """Install (or upgrade) ``name`` by name with the target's package manager, every
    repository of the image enabled; ``only``: pkgrun's one test repository to offer it from."""
    argv = [*target.by_name, "upgrade" if upgrade else "install", "-y"]
    if only is not None:
        argv.append(f"--disablerepo={NEW_REPO if only == PUBLISHED_REPO else PUBLISHED_REPO}")
    return [*argv, name]


def installed_argv(name: str) -> list[str]:
    return ["rpm", "-q", "--qf", NEVRA_FORMAT, name]


def offers_argv(target: Target, name: str, *, unfiltered: bool = False) -> list[str]:
    """What every enabled repository offers of ``name``, one "repo<TAB>NEVRA" a line;
    ``unfiltered``: without dnf's modular filtering (yum has none)."""
    if target.by_name[0] == "yum":  # yum-utils' repoquery (el7)
        return ["repoquery", "--show-duplicates", "--qf", _OFFER_FORMAT, name]
    argv = [*target.by_name, "-q", "repoquery", "--qf", _OFFER_FORMAT]
    return [*argv, *(["--disable-modular-filtering"] if unfiltered else []), name]


def parse_offers(text: str) -> list[Offer]:
    """The offers of "repo<TAB>NEVRA" lines; a line that is not one is left out."""
    offers = []
    for line in text.splitlines():
        repo, _, nevra = line.strip().partition("\t")
        if is_offer(repo, nevra):
            offers.append(Offer(repo, nevra))
    return offers


def is_offer(repo: object, nevra: object) -> bool:
    """A repository id and a NEVRA as yum and rpm write them (nothing else is ever shown)."""
    return (
        isinstance(repo, str)
        and isinstance(nevra, str)
        and bool(_REPO_ID_RE.fullmatch(repo))
        and bool(_NEVRA_RE.fullmatch(nevra))
    )


def explain(
    name: str,
    wanted: str,
    got: str,
    visible: Sequence[Offer],
    every: Sequence[Offer],
    ours: Collection[str] = OURS,
) -> str:
    """Why ``got`` (an installed NEVRA, or "nothing") and not ``wanted``: ``visible`` is what
    the package manager offers, ``every`` the same without modular filtering; ``ours``: the ids
    of pkgrun's repositories."""
    if not any(o.nevra == wanted and o.repo in ours for o in every):
        return f"pkgrun's repositories do not offer {wanted}"
    if any(o.nevra == got and o.repo in ours for o in every):
        return (
            f"{got}, pkgrun's own older release, stayed: {wanted} could not be installed (its "
            "requirements did not resolve: see the package manager's output above)"
        )
    theirs = [o for o in every if o.repo not in ours]
    winner = next((o for o in theirs if o.nevra == got), None)
    if not any(o.nevra == wanted for o in visible):
        stream = f" ({winner.repo}'s {winner.nevra} is modular)" if winner else ""
        return (
            f"modular filtering: a default module stream ships {name}, which hides every non-modular "
            f"{name}{stream}; pkgrun's repository needs module_hotfixes=1 (dnf.modularity(7))"
        )
    if winner is None:
        return f"{got} was installed, which no repository offers as {name}"
    (epoch, version, release), (our_epoch, our_version, our_release) = winner.evr.key, nevra_evr(wanted).key
    if nevra_evr(wanted) < winner.evr:
        what = (
            f"its epoch {epoch} is higher than pkgrun's {our_epoch}"
            if epoch != our_epoch
            else f"its version {version}-{release} is higher than pkgrun's {our_version}-{our_release}"
        )
        return (
            f"{winner.repo}'s {winner.nevra} won: {what}, and no priority puts pkgrun's repository "
            f"ahead (priority= in its .repo; el7's yum needs yum-plugin-priorities)"
        )
    return f"{winner.repo}'s {winner.nevra} won on priority: its repository's priority= is ahead of pkgrun's"


def competitors(every: Sequence[Offer], ours: Collection[str] = OURS) -> list[Offer]:
    """The other repositories' packages, newest first."""
    theirs = [o for o in every if o.repo not in ours]
    return sorted(theirs, key=lambda o: o.evr, reverse=True)
