"""The nightly job: every recipe for every configured target, only what changed rebuilt, in
parallel where recipes do not depend on each other, only what passed published.

Each (target, recipe) is a node; a recipe's [build] recipes are its edges, ordered with
graphlib. A node is skipped when the build cache says its inputs are those of a published
package; a node whose dependency failed is blocked; one failure never stops the others.
"""

from __future__ import annotations

import graphlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pkgrun import buildcache, images
from pkgrun.build import BuildContext, BuildResult, Packager, build_recipe, choose_packager, default_log_path
from pkgrun.config import Config
from pkgrun.container import Engine, image_id, remove_active_containers
from pkgrun.errors import CommandFailed, PkgrunError, UsageError
from pkgrun.install_test import InstallTestFailed
from pkgrun.plan import BuildPlan, make_plan
from pkgrun.recipe_dir import LoadedRecipe
from pkgrun.repo import (
    listed_files,
    newest_release,
    publish_rpms,
    published_releases,
    read_index,
    repo_arch,
)
from pkgrun.report import Advance, Reporter
from pkgrun.run import run
from pkgrun.sources import sha256_file
from pkgrun.targets import Target, get_target


class Status(StrEnum):
    BUILT = "built"
    SKIPPED = "skipped"
    FAILED = "failed"
    BLOCKED = "blocked"  # a recipe it needs failed


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
class NightlyRun:
    started: datetime
    outcomes: list[Outcome]
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if any(o.status in (Status.FAILED, Status.BLOCKED) for o in self.outcomes) else 0


@dataclass(frozen=True)
class NightlySettings:
    recipes: Sequence[LoadedRecipe]
    targets: Sequence[Target]
    config: Config
    engine: Engine
    repo: Path
    out_dir: Path
    cache_dir: Path
    mirrors: Sequence[str] = ()
    jobs: int = 1
    env: Mapping[str, str] = field(default_factory=dict)


Node = tuple[str, str]  # (target, recipe)


def graph(recipes: Sequence[LoadedRecipe], targets: Sequence[Target]) -> dict[Node, set[Node]]:
    """Each (target, recipe) with the nodes it waits for; a cycle is a usage error."""
    nodes: dict[Node, set[Node]] = {}
    for target in targets:
        for item in recipes:
            nodes[(target.name, item.name)] = {(target.name, dep) for dep in item.recipe.build.recipes}
    try:
        tuple(graphlib.TopologicalSorter(nodes).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(recipe for _, recipe in exc.args[1])
        raise UsageError(
            f"the recipes need each other in a cycle: {cycle}",
            hint="remove one of the [build] recipes entries of the cycle",
        ) from None
    return nodes


def plan_all(settings: NightlySettings) -> dict[Node, BuildPlan]:
    """Every node's plan: the configured version for the target, else the recipe's default."""
    plans = {}
    for target in settings.targets:
        versions = settings.config.nightly.versions.get(target.name, {})
        for item in settings.recipes:
            plans[(target.name, item.name)] = make_plan(
                item, target, out_dir=settings.out_dir, jobs=settings.jobs, version=versions.get(item.name)
            )
    return plans


def packager_identity(packager: Packager, path: str | None) -> str:
    """The packager and its version, as far as the host can tell without a container."""
    if packager is Packager.FPM:
        return "fpm (pinned by the build image's Containerfile)"
    assert path is not None
    out = run([path, "--version"], check=False).stdout
    version = next(
        (line.split()[-1] for line in out.splitlines() if line.startswith("GitVersion")), "unknown"
    )
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    return f"nfpm {version} ({digest})"


class _Labelled:
    """A reporter whose lines say which target a recipe's step belongs to."""

    def __init__(self, inner: Reporter, target: str) -> None:
        self.inner, self.target = inner, target

    def step(self, recipe: str, name: str) -> AbstractContextManager[None]:
        return self.inner.step(f"{recipe} ({self.target})", name)

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        return self.inner.progress(f"{recipe} ({self.target})", name, total)

    def note(self, recipe: str, message: str) -> None:
        self.inner.note(f"{recipe} ({self.target})", message)


def run_nightly(settings: NightlySettings, reporter: Reporter) -> NightlyRun:
    started, clock = datetime.now(UTC), time.monotonic()
    nodes = graph(settings.recipes, settings.targets)
    plans = plan_all(settings)
    packagers = {node: choose_packager(None, plan) for node, plan in plans.items()}  # before any work
    identities: dict[str, str] = {}
    outcomes = {node: Outcome(node[0], node[1], plans[node].version) for node in nodes}
    built_rpms: dict[Node, Path] = {}
    lock = threading.Lock()

    def work(node: Node) -> None:
        plan = plans[node]
        outcome = outcomes[node]
        failed_deps = [dep for dep in nodes[node] if outcomes[dep].status in (Status.FAILED, Status.BLOCKED)]
        if failed_deps:
            outcome.status, outcome.reason = (
                Status.BLOCKED,
                f"needs {', '.join(d[1] for d in failed_deps)}, which failed",
            )
            return
        started_node = time.monotonic()
        try:
            build_node(node, plan, outcome)
        except PkgrunError as exc:  # one recipe's failure is reported, the others go on
            outcome.status, outcome.error = Status.FAILED, exc.message
            outcome.log_tail = _tail_of(exc, outcome.log)
        finally:
            outcome.seconds = time.monotonic() - started_node

    def build_node(node: Node, plan: BuildPlan, outcome: Outcome) -> None:
        packager, path = packagers[node]
        with lock:
            identity = identities.setdefault(packager.value, packager_identity(packager, path))
        target_reporter = _Labelled(reporter, plan.target.name)
        dist_dir = settings.repo / plan.target.dist
        deps = {dep[1]: _rpm_for(dep, plans[dep], built_rpms, settings.repo) for dep in sorted(nodes[node])}
        inputs, decision = cache_decision(plan, settings.engine, settings.repo, identity, deps)
        outcome.reason = decision.reason
        if not decision.build:
            outcome.status, outcome.nevra = Status.SKIPPED, decision.published
            entry = read_index(dist_dir).get(buildcache.key(plan), {})
            if entry.get("file"):
                built_rpms[node] = dist_dir / repo_arch(plan.loaded.recipe.package.arch) / entry["file"]
            return
        plan = _with_free_release(plan, settings.repo, settings.out_dir, settings.jobs)
        outcome.log = default_log_path(settings.env, plan)
        ctx = BuildContext(
            plan=plan,
            engine=settings.engine,
            packager=packager,
            packager_path=path,
            out_dir=settings.out_dir,
            cache_dir=settings.cache_dir,
            log=outcome.log,
            mirrors=settings.mirrors,
            env=settings.env,
            repo_root=settings.repo,
            dependencies=[rpm for rpm in deps.values() if rpm],
        )
        result = build_recipe(ctx, target_reporter)
        entry = buildcache.entry(inputs, result.info.nevra, result.rpm.name)
        with target_reporter.step(plan.name, f"publish into {dist_dir}"):
            publish_rpms(
                [result.rpm],
                settings.repo,
                plan.target,
                reporter=target_reporter,
                keep=settings.config.nightly.keep,
                builds={buildcache.key(plan): entry},
            )
        built_rpms[node] = result.rpm
        _fill_built(outcome, result)

    _schedule(nodes, work, settings.jobs)
    return NightlyRun(started, [outcomes[node] for node in nodes], time.monotonic() - clock)


def cache_decision(
    plan: BuildPlan, engine: Engine, repo: Path, packager: str, deps: Mapping[str, Path | None]
) -> tuple[buildcache.Inputs, buildcache.Decision]:
    """The build's inputs and whether the repository already publishes a package made of them."""
    base = images.base_image_tag(plan.target, plan.target.containerfile)
    inputs = buildcache.inputs_of(
        plan,
        image=image_id(engine, base) or "",
        packager=packager,
        recipes={name: _sha256(rpm) for name, rpm in deps.items() if rpm},
    )
    dist_dir = repo / plan.target.dist
    listed: set[str] = set()
    for arch_dir in dist_dir.glob("*/repodata"):
        listed |= listed_files(arch_dir.parent)
    return inputs, buildcache.decide(plan, inputs, dist_dir, listed)


def explain(plan: BuildPlan, engine: Engine, repo: Path) -> buildcache.Decision:
    """What the nightly job would do with ``plan`` now, and why (for `pkgrun plan`)."""
    packager, path = choose_packager(None, plan)
    deps = {name: newest_release(repo, plan.target.dist, name) for name in plan.loaded.recipe.build.recipes}
    return cache_decision(plan, engine, repo, packager_identity(packager, path), deps)[1]


def _schedule(nodes: Mapping[Node, set[Node]], work: Callable[[Node], None], jobs: int) -> None:
    """Run ``work`` on every node once the nodes it needs are done, ``jobs`` at a time."""
    sorter = graphlib.TopologicalSorter(nodes)
    sorter.prepare()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pkgrun-build")
    try:
        running: dict[Future[None], Node] = {}
        while sorter.is_active():
            for node in sorter.get_ready():
                running[pool.submit(work, node)] = node
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a bug in pkgrun itself stops the run
                sorter.done(running.pop(future))
    except BaseException:
        # Ctrl-C reaches only this thread: take the builds' containers away, so that the
        # workers' commands end, and start nothing new
        pool.shutdown(wait=False, cancel_futures=True)
        remove_active_containers()
        raise
    finally:
        pool.shutdown(wait=True)


def _rpm_for(node: Node, plan: BuildPlan, built: Mapping[Node, Path], repo: Path) -> Path | None:
    """The package of a needed recipe: this run's build, else the newest published one."""
    return built.get(node) or newest_release(repo, plan.target.dist, plan.name)


def _with_free_release(plan: BuildPlan, repo: Path, out_dir: Path, jobs: int) -> BuildPlan:
    """The plan with the next free iteration when its NEVRA is published already: a rebuild with
    changed inputs gets a new release instead of clashing with the published one."""
    dist = "." + plan.target.dist
    iterations = [
        evr.key[2].removesuffix(dist)
        for evr, _ in published_releases(repo, plan.target.dist, plan.name)
        if evr.key[1] == plan.version
    ]
    iteration = buildcache.next_iteration(plan.iteration, iterations)
    if iteration == plan.iteration:
        return plan
    return make_plan(
        plan.loaded, plan.target, out_dir=out_dir, jobs=jobs, version=plan.version, iteration=iteration
    )


def _fill_built(outcome: Outcome, result: BuildResult) -> None:
    outcome.status = Status.BUILT
    outcome.nevra, outcome.rpm, outcome.size = result.info.nevra, str(result.rpm), result.info.size
    outcome.lint = [str(f) for f in result.lint.findings] if result.lint else []


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


def _sha256(path: Path | None) -> str:
    return sha256_file(path) if path else ""


def targets_of(names: Sequence[str]) -> list[Target]:
    return [get_target(name) for name in names]


def iter_statuses(run_: NightlyRun) -> Iterator[tuple[Status, int]]:
    for status in Status:
        yield status, sum(o.status is status for o in run_.outcomes)
