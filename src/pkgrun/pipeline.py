"""Build, deliver, publish: the one sequence `pkgrun build` and the nightly job both run.

A run is a set of requests, one per (target, recipe), each with a mode that says when it builds:
always (a recipe named on `pkgrun build`), only when nothing is published (a recipe a named one
needs: the newest published package is used instead), or only when its inputs changed (the
nightly job). The requests are planned before any work, ordered by [build] recipes, and run in
parallel where they do not depend on each other; a failure stops nothing but what needs it.

Each request that builds ends in ``deliver``: the build's inputs are recorded beside the
repository and the RPM is published, under the repository's lock.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pkgrun import buildcache
from pkgrun.build import BuildContext, BuildResult, Steps, build_recipe
from pkgrun.container import Engine, image_id
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.images import base_image_tag
from pkgrun.install_test import InstallTestFailed
from pkgrun.plan import BuildPlan, Options, Step, make_plan
from pkgrun.recipe import LoadedRecipe
from pkgrun.repo import Published, publish_rpms, repo_arch
from pkgrun.repodata import listed_in_dist, newest_release, published_releases, read_index
from pkgrun.report import Advance, Reporter
from pkgrun.run import find_tool
from pkgrun.scheduler import Node, graph, schedule
from pkgrun.settings import Settings
from pkgrun.sources import sha256_file
from pkgrun.targets import Packager, Target


class Mode(StrEnum):
    ALWAYS = "always"  # named on `pkgrun build`
    IF_MISSING = "if missing"  # needed by a named recipe: the published package if there is one
    IF_CHANGED = "if changed"  # the nightly job: when the inputs differ from the published package's


class Status(StrEnum):
    BUILT = "built"
    SKIPPED = "skipped"
    FAILED = "failed"
    BLOCKED = "blocked"  # a recipe it needs failed


@dataclass(frozen=True)
class Request:
    loaded: LoadedRecipe
    target: Target
    mode: Mode
    version: str | None = None
    iteration: str | None = None


@dataclass
class Outcome:
    target: str
    recipe: str
    version: str
    status: Status = Status.BLOCKED
    reason: str = ""
    nevra: str | None = None
    rpm: str | None = None
    size: int | None = None
    seconds: float = 0.0
    log: Path | None = None
    error: str | None = None
    log_tail: str | None = None
    lint: list[str] = field(default_factory=list)
    result: BuildResult | None = None
    published: list[Published] = field(default_factory=list)
    exception: PkgrunError | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "recipe": self.recipe,
            "version": self.version,
            "status": self.status.value,
            "reason": self.reason,
            "nevra": self.nevra,
            "rpm": self.rpm,
            "size": self.size,
            "seconds": round(self.seconds, 2),
            "log": str(self.log) if self.log else None,
            "error": self.error,
            "log_tail": self.log_tail,
            "rpmlint": self.lint,
        }


@dataclass
class RunResult:
    started: datetime
    outcomes: list[Outcome]
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if any(o.status in (Status.FAILED, Status.BLOCKED) for o in self.outcomes) else 0

    @property
    def built(self) -> list[BuildResult]:
        return [o.result for o in self.outcomes if o.result is not None]


def plan_requests(requests: Sequence[Request], settings: Settings) -> dict[Node, BuildPlan]:
    """Every request's plan, made before any work: a bad version or packager stops the run here."""
    _, make_jobs = settings.split(len(requests))
    options = Options(
        lint=settings.lint, install_test=settings.install_test, publish=settings.publish, make_jobs=make_jobs
    )
    return {
        (r.target.name, r.loaded.name): make_plan(
            r.loaded,
            r.target,
            out_dir=settings.out_dir,
            options=options,
            version=r.version,
            iteration=r.iteration,
            packager=settings.packager,
        )
        for r in requests
    }


def run_builds(
    requests: Sequence[Request], settings: Settings, engine: Engine, reporter: Reporter
) -> RunResult:
    started, clock = datetime.now(UTC), time.monotonic()
    modes = {(r.target.name, r.loaded.name): r.mode for r in requests}
    nodes = graph([r.loaded for r in requests], {r.target for r in requests}, only=set(modes))
    plans = plan_requests(requests, settings)
    identities = Identities(engine)
    outcomes = {node: Outcome(node[0], node[1], plans[node].version) for node in nodes}
    made: dict[Node, Path] = {}  # this run's package of each node, built or published

    def work(node: Node) -> None:
        outcome = outcomes[node]
        failed = [dep for dep in nodes[node] if outcomes[dep].status in (Status.FAILED, Status.BLOCKED)]
        if failed:
            outcome.status = Status.BLOCKED
            outcome.reason = f"needs {', '.join(d[1] for d in failed)}, which failed"
            return
        began = time.monotonic()
        try:
            _run_node(node, plans[node], modes[node], outcome)
        except PkgrunError as exc:  # one recipe's failure is reported, the others go on
            outcome.status, outcome.error, outcome.exception = Status.FAILED, exc.message, exc
            outcome.log_tail = _tail_of(exc, outcome.log)
        finally:
            outcome.seconds = time.monotonic() - began

    def _run_node(node: Node, plan: BuildPlan, mode: Mode, outcome: Outcome) -> None:
        labelled = _Labelled(reporter, plan.target.name) if len({n[0] for n in nodes}) > 1 else reporter
        deps = {dep[1]: made.get(dep) for dep in sorted(nodes[node])}
        inputs = buildcache.inputs_of(
            plan,
            image=identities.image(plan.target),
            packager=identities.packager(plan.packager),
            recipes={name: sha256_file(rpm) for name, rpm in deps.items() if rpm},
        )
        dist_dir = settings.repo / plan.target.dist
        if mode is Mode.IF_MISSING and (
            published := newest_release(settings.repo, plan.target.dist, plan.name)
        ):
            outcome.status, outcome.reason = (
                Status.SKIPPED,
                f"needed by a named recipe: {published.name} is published",
            )
            outcome.nevra, made[node] = published.name.removesuffix(".rpm"), published
            labelled.note(plan.name, f"using the published {published.name}")
            return
        if mode is Mode.IF_CHANGED:
            decision = buildcache.decide(plan, inputs, dist_dir, listed_in_dist(dist_dir))
            outcome.reason = decision.reason
            if not decision.build:
                outcome.status, outcome.nevra = Status.SKIPPED, decision.published
                entry = read_index(dist_dir).get(buildcache.key(plan), {})
                if entry.get("file"):
                    made[node] = dist_dir / repo_arch(plan.loaded.recipe.package.arch) / entry["file"]
                return
            plan = _with_free_release(plan, settings)
        else:
            outcome.reason = (
                "named on the command line" if mode is Mode.ALWAYS else "needed, and not published"
            )
        outcome.log = settings.logs / f"{plan.name}-{plan.version}-{plan.release}-{_stamp()}.log"
        ctx = BuildContext(
            plan=plan,
            engine=engine,
            out_dir=settings.out_dir,
            cache_dir=settings.cache_dir,
            log=outcome.log,
            repo_root=settings.repo,
            nfpm=identities.nfpm if plan.packager is Packager.NFPM else None,
            mirrors=settings.mirrors,
            max_download=settings.max_download,
            pip=settings.pip,
            keep_container=settings.keep_container,
            dependencies=[rpm for rpm in deps.values() if rpm],
        )
        result = build_recipe(ctx, labelled)
        if not inputs.image:  # made by this build: record what it was made on
            inputs = replace(inputs, image=identities.image(plan.target, refresh=True))
        if settings.publish:
            outcome.published = deliver(result, inputs, settings, labelled)
            result = BuildResult(**{**result.__dict__, "steps": (*result.steps, Step.PUBLISH)})
        made[node] = result.rpm
        outcome.status, outcome.result = Status.BUILT, result
        outcome.nevra, outcome.rpm, outcome.size = result.info.nevra, str(result.rpm), result.info.size
        outcome.lint = [str(f) for f in result.lint.findings] if result.lint else []

    builds, _ = settings.split(len(nodes))
    schedule(nodes, work, builds)
    return RunResult(started, [outcomes[node] for node in nodes], time.monotonic() - clock)


def deliver(
    result: BuildResult, inputs: buildcache.Inputs, settings: Settings, reporter: Reporter
) -> list[Published]:
    """The end of every build: record what it was made of and publish it, under the lock."""
    plan = result.plan
    entry = buildcache.entry(inputs, result.info.nevra, result.rpm.name)
    steps = Steps(reporter, plan.name)
    with steps(Step.PUBLISH, f"publish into {settings.repo / plan.target.dist}"):
        return publish_rpms(
            [result.rpm],
            settings.repo,
            plan.target,
            reporter=reporter,
            force=settings.force,
            keep=settings.keep,
            index={buildcache.key(plan): entry},
        ).published


class Identities:
    """What the build cache records of the images and packagers, looked up once per run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._images: dict[str, str] = {}
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

    def image(self, target: Target, refresh: bool = False) -> str:
        with self._lock:
            if refresh or target.name not in self._images:
                self._images[target.name] = (
                    image_id(self.engine, base_image_tag(target, target.containerfile)) or ""
                )
            return self._images[target.name]

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


def _with_free_release(plan: BuildPlan, settings: Settings) -> BuildPlan:
    """The plan with the next free iteration when its NEVRA is published already: a rebuild with
    changed inputs gets a new release instead of clashing with the published one."""
    dist = "." + plan.target.dist
    iterations = [
        evr.key[2].removesuffix(dist)
        for evr, _ in published_releases(settings.repo, plan.target.dist, plan.name)
        if evr.key[1] == plan.version
    ]
    iteration = buildcache.next_iteration(plan.iteration, iterations)
    if iteration == plan.iteration:
        return plan
    return make_plan(
        plan.loaded,
        plan.target,
        out_dir=settings.out_dir,
        options=plan.options,
        version=plan.version,
        iteration=iteration,
        packager=plan.packager,
    )


class _Labelled:
    """A reporter whose lines say which target a recipe's step belongs to."""

    def __init__(self, inner: Reporter, target: str) -> None:
        self.inner, self.target = inner, target

    def step(self, recipe: str, name: str) -> Any:
        return self.inner.step(f"{recipe} ({self.target})", name)

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        return self.inner.progress(f"{recipe} ({self.target})", name, total)

    def note(self, recipe: str, message: str) -> None:
        self.inner.note(f"{recipe} ({self.target})", message)


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _tail_of(exc: PkgrunError, log: Path | None, lines: int = 30) -> str:
    if isinstance(exc, InstallTestFailed):
        return exc.output[-4000:]
    if isinstance(exc, CommandFailed) and exc.output:
        return exc.output
    if log is None:
        return exc.hint or ""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def counts(outcomes: Sequence[Outcome]) -> Mapping[str, int]:
    return {status.value: sum(o.status is status for o in outcomes) for status in Status}
