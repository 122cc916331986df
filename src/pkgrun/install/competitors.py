"""Other repositories' packages of pkgrun's names, as install tests found them, and which recipes
would lose to them.

An install test by name lists what every repository of the target's image offers of the
package (byname.competitors): on el targets the distribution's and EPEL's nginx, php and
supervisor. pkgrun's .repo files make pkgrun's packages win anyway (priority, module_hotfixes);
a client without them takes the higher epoch-version-release. The offers are recorded per
distribution in pkgrun's state directory, and `pkgrun check` says, for every recipe a recorded
competitor beats on version order, what it loses to and the epoch that would win.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pkgrun.build.fpm import release
from pkgrun.install.byname import Offer, is_offer
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.repo.files import write_atomically
from pkgrun.rpm.evr import EVR
from pkgrun.targets import Target


def record_file(state_dir: Path, dist: str, name: str) -> Path:
    """One file per distribution and package: builds at once never write the same one."""
    return state_dir / "competitors" / dist / f"{name}.json"


def record(state_dir: Path, dist: str, name: str, offers: Sequence[Offer]) -> None:
    """Keep what the install test of ``name`` found other repositories offering (replacing what
    an earlier test found)."""
    path = record_file(state_dir, dist, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps([{"repo": o.repo, "nevra": o.nevra} for o in offers], indent=1))


def recorded(state_dir: Path, dist: str) -> dict[str, list[Offer]]:
    """What install tests recorded for ``dist``, by package name; what is not a record pkgrun
    wrote is left out (it is advice, never a reason to fail)."""
    out: dict[str, list[Offer]] = {}
    for path in sorted((state_dir / "competitors" / dist).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, list):
            out[path.stem] = [
                Offer(o["repo"], o["nevra"])
                for o in data
                if isinstance(o, dict) and is_offer(o.get("repo"), o.get("nevra"))
            ]
    return out


@dataclass(frozen=True)
class Loss:
    recipe: str
    target: str
    ours: str  # epoch:version-release
    theirs: Offer
    winning_epoch: int
    tie: bool = False  # the same epoch-version-release: which one a client takes is not ours to say

    def text(self) -> str:
        how = "is as new as" if self.tie else "is newer than"
        return (
            f"{self.recipe} on {self.target}: {self.theirs.repo}'s {self.theirs.nevra} {how} "
            f"pkgrun's {self.ours} by version order; a client without pkgrun's .repo settings "
            f"(priority, module_hotfixes) may install it. epoch = {self.winning_epoch} in [package] "
            "wins there"
        )


def losses(state_dir: Path, loaded: Sequence[LoadedRecipe], targets: Sequence[Target]) -> list[Loss]:
    """The recipes a recorded competitor beats on version order, per target."""
    out = []
    for target in targets:
        offers = recorded(state_dir, target.dist)
        for item in loaded:
            recipe = item.recipe
            theirs = offers.get(recipe.name, [])  # each a repo id and a NEVRA (is_offer): they parse
            if not theirs:
                continue
            best = max(theirs, key=lambda o: o.evr)
            version, rel = recipe.default_version(target), release(recipe, target)
            ours = EVR(recipe.package.epoch, version, rel)
            if ours < best.evr or ours == best.evr:
                epoch = best.evr.key[0] + (0 if EVR(best.evr.key[0], version, rel) > best.evr else 1)
                ours_text = f"{recipe.package.epoch}:{version}-{rel}"
                out.append(Loss(recipe.name, target.name, ours_text, best, epoch, tie=ours == best.evr))
    return out
