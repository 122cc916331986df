"""Rebuilding a published package from its recorded inputs, to check that it is what its recipe
and source make: identical (the package without its signature, byte for byte) or different,
with diffoscope's report of what differs.

The inputs are the ones the build index recorded when the package was published (buildcache):
the recipe's files must be as they were (their digests are compared; pkgrun does not keep old
recipes, version control does), the source is fetched again and checked against its recorded
sha256, the needed recipes' packages are the published files with the recorded digests, and
version, iteration and packager are the recorded ones. The build image and pkgrun's version
are today's: when they differ from the recorded ones the verdict says so, since a difference
may come from them. The rebuild runs no install test, lint or signing, and publishes nothing;
its package, log and report stay in a folder of their own under the logs.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pkgrun.build import cache as buildcache
from pkgrun.build.plan import BuildPlan, Options, make_plan
from pkgrun.config.settings import Settings
from pkgrun.engine.container import Engine
from pkgrun.errors import UsageError
from pkgrun.pipeline.build import BuildContext, build_recipe
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.repo.data import INDEX_FILE, DistView, read_dist
from pkgrun.report import Reporter
from pkgrun.rpm.header import content_digest
from pkgrun.run import run
from pkgrun.targets import Packager, Target

# Inputs a rebuild takes as they are today; any other difference means the recorded inputs are gone.
# (A package recorded before modes were inputs has none to compare: its scheme differs.)
TODAYS = (
    "build image changed",
    "pkgrun version changed",
    "packager changed",
    "pkgrun's build inputs scheme changed",
)
DIFFOSCOPE_HINT = "install diffoscope to see what differs (Debian/Ubuntu: apt-get install diffoscope-minimal)"


@dataclass(frozen=True)
class Verdict:
    recipe: str
    target: str
    published: Path
    rebuilt: Path
    identical: bool
    folder: Path  # the rebuild's log, package and report
    report: Path | None = None  # diffoscope's text report, when different and diffoscope is there
    unlike_recorded: list[str] = field(default_factory=list)  # today's inputs that differ, in words
    seconds: float = 0.0

    def summary(self) -> str:
        if self.identical:
            return "identical"
        shown = f"; report: {self.report}" if self.report else f"; {DIFFOSCOPE_HINT}"
        why = f" ({', '.join(self.unlike_recorded)} since)" if self.unlike_recorded else ""
        return f"different{why}{shown}"

    def to_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "target": self.target,
            "published": str(self.published),
            "rebuilt": str(self.rebuilt),
            "identical": self.identical,
            "folder": str(self.folder),
            "report": str(self.report) if self.report else None,
            "unlike_recorded": self.unlike_recorded,
            "seconds": round(self.seconds, 1),
        }


def recorded_entry(view: DistView, published: Path) -> dict[str, Any]:
    """What the build index recorded of the build that made ``published``."""
    for entry in view.index.values():
        if isinstance(entry, dict) and entry.get("file") == published.name and "inputs" in entry:
            return entry
    raise UsageError(
        f"no recorded inputs for {published.name}",
        hint="it was published by `pkgrun publish` or an older pkgrun; a pkgrun build records them",
    )


def rebuild_published(
    loaded: LoadedRecipe,
    target: Target,
    *,
    settings: Settings,
    engine: Engine,
    identities: buildcache.Identities,
    reporter: Reporter,
    published: Path | None = None,
    view: DistView | None = None,
) -> Verdict:
    """Rebuild ``published`` (default: the newest published package of the recipe) from its
    recorded inputs and compare. ``view``: what is published, as the run read it (default: read
    here, once)."""
    started = time.monotonic()
    view = view or read_dist(settings.repo, target.dist)
    published = published or _newest_published(loaded, target, view)
    entry = recorded_entry(view, published)
    recorded = entry["inputs"]
    folder = settings.logs / f"rebuild-{published.name.removesuffix('.rpm')}-{_stamp()}"
    plan = _plan_as_recorded(loaded, target, entry, settings, folder)
    deps = _recorded_packages(view, recorded.get("recipes", {}))
    changes = _changes_since_recorded(plan, published, recorded, deps, settings, identities)
    folder.mkdir(parents=True, exist_ok=True)
    ctx = _rebuild_context(plan, folder, deps, settings, engine, identities, view)
    result = build_recipe(ctx, reporter)
    identical = content_digest(result.rpm) == content_digest(published)
    report = None if identical else _diffoscope(published, result.rpm, folder)
    return Verdict(
        loaded.name,
        target.name,
        published,
        result.rpm,
        identical,
        folder,
        report,
        changes,
        time.monotonic() - started,
    )


def _newest_published(loaded: LoadedRecipe, target: Target, view: DistView) -> Path:
    """The recipe's newest published package for ``target``; refused when there is none."""
    published = view.newest(loaded.name)
    if published is None:
        raise UsageError(
            f"{loaded.name} is not published for {target.name}",
            hint=f"build it first: pkgrun build {loaded.name}",
        )
    return published


def _plan_as_recorded(
    loaded: LoadedRecipe, target: Target, entry: dict[str, Any], settings: Settings, folder: Path
) -> BuildPlan:
    """The build's plan with the recorded version, iteration and packager, and nothing after the
    package (no lint, install test, signing or publishing)."""
    recorded = entry["inputs"]
    return make_plan(
        loaded,
        target,
        out_dir=folder,
        # compiled from source, with ccache's cache empty: what is checked is the compiler's work
        options=Options(
            lint=False,
            install_test=False,
            publish=False,
            sign=False,
            make_jobs=settings.split(1)[1],
            compile_cache=False,
            ccache=settings.ccache,
            ccache_volume=None,
        ),
        version=str(recorded.get("version")),
        iteration=str(entry.get("iteration") or recorded.get("iteration")),
        packager=Packager.FPM if str(recorded.get("packager", "")).startswith("fpm") else Packager.NFPM,
    )


def _changes_since_recorded(
    plan: BuildPlan,
    published: Path,
    recorded: dict[str, Any],
    deps: dict[str, Path],
    settings: Settings,
    identities: buildcache.Identities,
) -> list[str]:
    """How today's inputs differ from the recorded ones, in words; refused when an input other
    than those a rebuild takes as they are today (TODAYS) differs: the recorded inputs are gone."""
    target = plan.target
    inputs = buildcache.inputs_of(
        plan,
        image=identities.image(target),
        packager=identities.packager(plan.packager),
        recipes={name: content_digest(rpm) for name, rpm in deps.items()},
    )
    changes = inputs.changes_from(recorded)
    gone = [change for change in changes if change not in TODAYS]
    if gone:
        raise UsageError(
            f"cannot rebuild {published.name} from its recorded inputs: {', '.join(gone)}",
            hint="check out the recipe as it was when the package was built (the digests of its files "
            f"are in {settings.repo / target.dist / INDEX_FILE})",
        )
    return changes


def _rebuild_context(
    plan: BuildPlan,
    folder: Path,
    deps: dict[str, Path],
    settings: Settings,
    engine: Engine,
    identities: buildcache.Identities,
    view: DistView,
) -> BuildContext:
    """Where the rebuild runs: its own folder for package and log, the needed recipes' very
    packages."""
    return BuildContext(
        plan=plan,
        engine=engine,
        settings=settings.but(keep_container=False),
        out_dir=folder,
        log=folder / "build.log",
        published=view,
        nfpm=identities.nfpm if plan.packager is Packager.NFPM else None,
        dependencies=list(deps.values()),
    )


def _recorded_packages(view: DistView, recorded: dict[str, str]) -> dict[str, Path]:
    """The published packages of the needed recipes, the very files the build had."""
    out = {}
    for name, digest in sorted(recorded.items()):
        found = [path for _, path in view.releases(name) if content_digest(path) == digest]
        if not found:
            raise UsageError(
                f"cannot rebuild from the recorded inputs: the package of {name} it was built with is no "
                "longer published",
                hint="a rebuild needs the very packages of the recipes it was built against",
            )
        out[name] = found[0]
    return out


def _diffoscope(published: Path, rebuilt: Path, folder: Path) -> Path | None:
    """diffoscope's report on the two packages without their signatures, beside the log; None
    when diffoscope is not installed."""
    diffoscope = shutil.which("diffoscope")
    if diffoscope is None:
        return None
    unsigned = folder / "published" / published.name
    unsigned.parent.mkdir(exist_ok=True)
    shutil.copyfile(published, unsigned)
    run(["rpmsign", "--delsign", str(unsigned)], check=False)  # signed or not, compare the content
    report = folder / "diffoscope.txt"
    run([diffoscope, "--text", str(report), "--no-progress", str(unsigned), str(rebuilt)], check=False)
    return report


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")
