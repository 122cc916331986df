"""Build, deliver, publish: the one sequence `pkgrun build` and the nightly job both run.

A run is a set of requests, one per (target, recipe), each with a mode that says when it builds:
always (a recipe named on `pkgrun build`), only when nothing is published (a recipe a named one
needs: the newest published package is used instead), or only when its inputs changed (the
nightly job). The requests are planned before any work, ordered by [build] recipes, and run in
parallel where they do not depend on each other; a failure stops nothing but what needs it.

Builds run on build hosts (hosts.py): this machine's engine, or several reached through their
remote APIs, each taking its number of builds at once. A build whose host stops answering is
tried once more on another; a build that fails for its own reasons is not.

Each request that builds ends in ``deliver``, on this machine: the build's inputs are recorded
beside the repository and the RPM is published, under the repository's lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pkgrun import buildcache
from pkgrun.build import BuildContext, BuildResult, build_recipe
from pkgrun.container import Engine, EngineDown
from pkgrun.delivery import deliver, iteration_of, named_release, published_twin, replanned, with_free_release
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.hosts import LOCAL, BuildHost, Down, Watch, answers, engine_failed, local_host
from pkgrun.install_test import InstallTestFailed
from pkgrun.lint import grouped
from pkgrun.outcome import HostUse, Mode, Outcome, Request, RunResult, Status
from pkgrun.plan import BuildPlan, Options, Step, make_plan
from pkgrun.rebuild import rebuild_published
from pkgrun.repo import record_builds
from pkgrun.repo_layout import repo_arch
from pkgrun.repodata import listed_in_dist, newest_release, read_index
from pkgrun.report import Advance, Reporter
from pkgrun.rpmheader import content_digest, read_header
from pkgrun.scheduler import ATTEMPTS, HostLost, Node, Slots, graph, schedule
from pkgrun.settings import Settings
from pkgrun.signing import SigningKey
from pkgrun.targets import Packager, Target

log = logging.getLogger("pkgrun.pipeline")


def run_options(settings: Settings, concurrent: int) -> Options:
    """The steps a run's builds take, and make -j of each when ``concurrent`` builds share the cores."""
    _, make_jobs = settings.split(concurrent)
    return Options(
        lint=settings.lint,
        install_test=settings.install_test,
        publish=settings.publish,
        sign=not settings.unsigned,
        make_jobs=make_jobs,
        recompile=settings.recompile,
        ccache=settings.ccache,
        ccache_volume=settings.config.cache.ccache_volume,
    )


def plan_requests(requests: Sequence[Request], settings: Settings) -> dict[Node, BuildPlan]:
    """Every request's plan, made before any work: a bad version or packager stops the run here."""
    options = run_options(settings, len(requests))
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
    requests: Sequence[Request],
    settings: Settings,
    hosts: Engine | Sequence[BuildHost],
    reporter: Reporter,
    key: SigningKey | None = None,
    identities: buildcache.Identities | None = None,
    down: Sequence[Down] = (),
) -> RunResult:
    """``hosts``: where the builds run (an engine: this machine's, as the one host);
    ``key``: what signs every package and the repository's metadata (None: unsigned, which
    settings.unsigned must have asked for); ``identities``: the packagers' versions, as far as
    the caller looked them up already; ``down``: the hosts that did not answer before the run."""
    started, clock = datetime.now(UTC), time.monotonic()
    modes = {(r.target.name, r.loaded.name): r.mode for r in requests}
    recipes = {r.loaded.name: r.loaded for r in requests}
    nodes = graph([r.loaded for r in requests], {r.target for r in requests}, only=set(modes))
    plans = plan_requests(requests, settings)
    named = {(r.target.name, r.loaded.name) for r in requests if r.iteration is not None}
    for node in sorted(named):  # a named iteration that is published is refused before any work
        named_release(plans[node], settings, explicit=True)
    if isinstance(hosts, Engine):
        hosts = [local_host(hosts, settings, len(nodes))]
    by_name = {host.name: host for host in hosts}
    uses = {h.name: HostUse(h.name, str(h.engine), h.builds) for h in hosts}
    uses.update({d.host: HostUse(d.host, "", 0, down=d.reason) for d in down})
    uses_lock = threading.Lock()
    identities = identities or buildcache.Identities()
    outcomes = {node: Outcome(node[0], node[1], plans[node].version) for node in nodes}
    made: dict[Node, Path] = {}  # this run's package of each node, built or published
    # each distribution's build index and listed files as the run found them, read once
    views: dict[str, tuple[dict[str, Any], set[str]]] = {}
    views_lock = threading.Lock()

    def view(dist: str) -> tuple[dict[str, Any], set[str]]:
        with views_lock:
            if dist not in views:
                views[dist] = (read_index(settings.repo / dist), listed_in_dist(settings.repo / dist))
            return views[dist]

    # what each node that builds builds: its plan, its inputs and the packages it needs
    pending: dict[Node, tuple[BuildPlan, buildcache.Inputs, dict[str, Path | None]]] = {}
    to_verify: set[Node] = set()  # skipped, and rebuilt to check it (--verify-skipped)
    attempts: dict[Node, list[str]] = {}  # the hosts each node ran on
    # a host's failure is told from a build's own only where another host can take the build:
    # a run on this machine's engine alone fails as it always did
    several = len(hosts) > 1 or any(h.engine.remote for h in hosts)
    watch = Watch(hosts)

    def needs_host(node: Node) -> bool:
        """Decide, before any host is given to it, whether ``node`` builds: what is skipped,
        blocked or used as published takes no host's time."""
        outcome = outcomes[node]
        began = time.monotonic()
        try:
            return _decide(node, outcome)
        except PkgrunError as exc:
            outcome.status, outcome.error, outcome.exception = Status.FAILED, exc.message, exc
            return False
        except Exception as exc:  # a bug of pkgrun's: this recipe fails, the run goes on
            log.exception("deciding %s for %s", node[1], node[0])
            outcome.status, outcome.error = Status.FAILED, f"pkgrun could not decide: {exc!r}"
            outcome.exception = PkgrunError(outcome.error, hint="run with --debug, and report it")
            return False
        finally:
            outcome.seconds += time.monotonic() - began

    def work(node: Node, host_name: str) -> None:
        outcome, host = outcomes[node], by_name[host_name]
        if outcome.retried:
            outcome.retried[-1] += f"; tried again on {host.name}"
            outcome.status, outcome.error, outcome.exception, outcome.log_tail = (
                Status.BLOCKED,
                None,
                None,
                None,
            )
        attempts.setdefault(node, []).append(host.name)
        outcome.host = host.name
        began = time.monotonic()
        try:
            if host.name in watch.gone:  # found hanging while this build waited for it
                raise EngineDown(host.engine, watch.gone[host.name])
            with watch.building(host):
                if node in to_verify:
                    _verify(plans[node], made[node], outcome, _labels(plans[node]), host)
                else:
                    _build(node, outcome, host)
        except PkgrunError as exc:  # one recipe's failure is reported, the others go on
            gone = watch.gone.get(host.name)
            if gone is None and several and engine_failed(host, exc):
                gone = answers(host)
            # its own error is kept whatever comes next: a retry clears it, a stranding adds to it
            outcome.status, outcome.error, outcome.exception = Status.FAILED, exc.message, exc
            outcome.log_tail = _tail_of(exc, outcome.log)
            if gone is not None and _retry_possible(node, host):
                outcome.retried.append(f"{host.name} went down during the build ({gone})")
                reporter.note(node[1], f"build host {host.name} does not answer ({gone}): trying another")
                raise HostLost(host.name, gone) from None
            if gone is not None:
                outcome.error += f" ({host.name} does not answer: {gone})"
                raise HostLost(host.name, gone, retry=False) from None
        finally:
            took = time.monotonic() - began
            outcome.seconds += took
            with uses_lock:
                uses[host.name].builds += 1
                uses[host.name].busy += took

    def _retry_possible(node: Node, host: BuildHost) -> bool:
        tried = attempts.get(node, [])
        return len(tried) < ATTEMPTS and any(
            h.name not in tried
            and uses[h.name].down is None
            and h.name not in watch.gone
            and h.takes(plans[node])
            for h in hosts
            if h.name != host.name
        )

    def stranded(node: Node, why: str) -> None:
        outcome = outcomes[node]
        if node in to_verify:  # skipped, and could not be rebuilt to check it
            outcome.verify_error = f"no build host could rebuild it: {why}"
            return
        said = f"no build host could run it: {why}"
        outcome.status, outcome.error = Status.FAILED, f"{outcome.error}; {said}" if outcome.error else said
        outcome.exception = PkgrunError(
            outcome.error,
            hint=f"check the build hosts and [[hosts]] targets and arch in {settings.config_file}",
        )

    def lost(host: str, reason: str) -> None:
        uses[host].down = reason
        reporter.note(f"host {host}", f"down for the rest of the run: {reason}")

    def package_of(target: Target, name: str) -> Path | None:
        """A recipe's package for this run: built in it, else the newest published."""
        return made.get((target.name, name)) or newest_release(settings.repo, target.dist, name)

    def siblings(plan: BuildPlan) -> list[Path]:
        """The packages of the recipes ``plan``'s package requires at run time, and of those
        they require, for its install test: as a server's package manager would find them."""
        out: dict[str, Path] = {}
        todo = list(plan.loaded.recipe.recipe_requires)
        while todo:
            name = todo.pop(0)
            if name in out or name == plan.name:
                continue
            rpm = package_of(plan.target, name)
            if rpm is None:
                raise PkgrunError(
                    f"{plan.name} requires the package of {name}, which is neither built in this run nor "
                    "published",
                    hint=f"build it first: pkgrun build {name} (or name both on one pkgrun build)",
                )
            out[name] = rpm
            if name in recipes:
                todo += recipes[name].recipe.recipe_requires
        return list(out.values())

    def _verify(
        plan: BuildPlan, published: Path, outcome: Outcome, labelled: Reporter, host: BuildHost
    ) -> None:
        try:
            outcome.verdict = rebuild_published(
                plan.loaded,
                plan.target,
                settings=settings,
                engine=host.engine,
                identities=identities,
                reporter=labelled,
                published=published,
            )
        except PkgrunError as exc:
            outcome.verify_error = exc.message
        labelled.note(plan.name, f"rebuilt to check {published.name}: {outcome.verified}")

    def _labels(plan: BuildPlan) -> Reporter:
        return _Labelled(reporter, plan.target.name) if len({n[0] for n in nodes}) > 1 else reporter

    def _decide(node: Node, outcome: Outcome) -> bool:
        failed = [dep for dep in nodes[node] if outcomes[dep].status in (Status.FAILED, Status.BLOCKED)]
        if failed:
            outcome.status = Status.BLOCKED
            outcome.reason = f"needs {', '.join(d[1] for d in failed)}, which failed"
            return False
        plan, mode, labelled = plans[node], modes[node], _labels(plans[node])
        deps = {name: package_of(plan.target, name) for name in plan.loaded.recipe.build.recipes}
        inputs = buildcache.inputs_of(
            plan,
            image=identities.image(plan.target),
            packager=identities.packager(plan.packager),
            recipes={name: content_digest(rpm) for name, rpm in deps.items() if rpm},
        )
        dist_dir = settings.repo / plan.target.dist
        if mode is Mode.IF_MISSING and (
            published := newest_release(settings.repo, plan.target.dist, plan.name)
        ):
            outcome.status, outcome.reason = (
                Status.SKIPPED,
                f"needed by a named recipe: {published.name} is published",
            )
            outcome.nevra, made[node] = read_header(published).nevra, published
            labelled.note(plan.name, f"using the published {published.name}")
            return False
        if mode is Mode.IF_CHANGED:
            index, listed = view(plan.target.dist)
            decision = buildcache.decide(plan, inputs, dist_dir, listed, index)
            outcome.reason = decision.reason
            if not decision.build:
                outcome.status, outcome.nevra = Status.SKIPPED, decision.published
                entry = index.get(buildcache.key(plan), {})
                published = (
                    dist_dir
                    / repo_arch(plan.target, plan.loaded.recipe.package.arch)
                    / str(entry.get("file"))
                )
                if entry.get("file") and published.is_file():
                    made[node] = published
                if settings.verify_skipped and node in made:
                    to_verify.add(node)
                    return True
                return False
            plan = with_free_release(plan, settings)
        else:
            outcome.reason = (
                "named on the command line" if mode is Mode.ALWAYS else "needed, and not published"
            )
            plan, said = named_release(plan, settings, explicit=node in named)
            if said:
                outcome.reason += f"; {said}"
                labelled.note(plan.name, said)
        pending[node] = (plan, inputs, deps)
        return True

    def _build(node: Node, outcome: Outcome, host: BuildHost) -> None:
        plan, inputs, deps = pending[node]
        plan, labelled = _on_host(plan, host, settings), _labels(plan)
        outcome.log = settings.logs / f"{plan.name}-{plan.version}-{plan.release}-{_stamp()}.log"
        if several:
            labelled.note(
                plan.name, f"builds on {host.name} ({host.engine}, make -j{plan.options.make_jobs})"
            )
        ctx = BuildContext(
            plan=plan,
            engine=host.engine,
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
            siblings=siblings(plan) if settings.install_test else (),
            key=key,
            compile_cache_max=settings.compile_cache_max,
            host=host.name if host.name != LOCAL else "",
        )
        result = build_recipe(ctx, labelled)
        if result.compile and result.compile.startswith("compile reused"):  # said where it happened
            outcome.reason += f"; {result.compile}"
        # nothing new for servers? Not asked where the user named the release, forces it, or
        # does not publish
        asked = settings.force or node in named or not settings.publish
        twin = None if asked else published_twin(result, settings)
        if twin is not None:  # nothing new for servers: keep the published one, record why
            outcome.status, outcome.result = Status.IDENTICAL, result
            outcome.reason += f"; identical to the published {twin.name} apart from release and signature"
            outcome.nevra, outcome.rpm, made[node] = read_header(twin).nevra, str(twin), twin
            labelled.note(plan.name, f"identical to the published {twin.name}: not published again")
            if settings.publish:
                iteration = iteration_of(twin, plan)
                entry = buildcache.entry(inputs, outcome.nevra, twin.name, iteration, result.full_seconds)
                record_builds(settings.repo, plan.target, {buildcache.key(plan): entry}, reporter=labelled)
            return
        if settings.publish:
            outcome.published = deliver(result, inputs, settings, labelled, key)
            result = BuildResult(**{**result.__dict__, "steps": (*result.steps, Step.PUBLISH)})
        made[node] = result.rpm
        outcome.status, outcome.result = Status.BUILT, result
        outcome.nevra, outcome.rpm, outcome.size = result.info.nevra, str(result.rpm), result.info.size
        outcome.lint = [str(f) for f in result.lint.findings] if result.lint else []
        outcome.lint_grouped = grouped(result.lint.findings) if result.lint else []

    slots = [Slots(h.name, h.builds, _taker(h, plans)) for h in hosts]
    with watch.running():
        schedule(
            nodes,
            work,
            slots,
            expected_seconds(plans, settings.repo),
            needs_host=needs_host,
            stranded=stranded,
            lost=lost,
        )
    return RunResult(
        started, [outcomes[node] for node in nodes], time.monotonic() - clock, list(uses.values())
    )


def _on_host(plan: BuildPlan, host: BuildHost, settings: Settings) -> BuildPlan:
    """``plan`` with the host's make -j."""
    if host.make_jobs is None or host.make_jobs == plan.options.make_jobs:
        return plan
    return replanned(plan, settings, options=replace(plan.options, make_jobs=host.make_jobs))


def _taker(host: BuildHost, plans: Mapping[Node, BuildPlan]) -> Callable[[Node], bool]:
    return lambda node: host.takes(plans[node])


def expected_seconds(plans: Mapping[Node, BuildPlan], repo: Path) -> dict[Node, float]:
    """How long each build took last time, as the repository's build index recorded it."""
    indexes = {
        p.target.dist: read_index(repo / p.target.dist)
        for p in {p.target: p for p in plans.values()}.values()
    }
    out = {}
    for node, plan in plans.items():
        seconds = indexes[plan.target.dist].get(buildcache.key(plan), {}).get("seconds")
        if isinstance(seconds, int | float):
            out[node] = float(seconds)
    return out


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
