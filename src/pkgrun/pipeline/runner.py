"""Build, deliver, publish: the one sequence `pkgrun build` and the nightly job both run.

A run is a set of requests, one per (target, recipe), each with a mode that says when it builds:
always (a recipe named on `pkgrun build`), only when nothing is published (a recipe a named one
needs: the newest published package is used instead), or only when its inputs changed (the
nightly job). The requests are planned before any work (jobs.py), ordered by [build] recipes,
and run in parallel where they do not depend on each other; a failure stops nothing but what
needs it.

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
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pkgrun.build import cache as buildcache
from pkgrun.build.lint import grouped
from pkgrun.build.plan import BuildPlan, Step
from pkgrun.config.settings import Settings
from pkgrun.engine.container import Engine, EngineDown
from pkgrun.errors import CommandFailed, PkgrunError
from pkgrun.install.install_test import InstallTestFailed
from pkgrun.pipeline.build import BuildContext, build_recipe
from pkgrun.pipeline.decide import Action, Decision, blocked_by, decide, release_for
from pkgrun.pipeline.delivery import deliver, iteration_of, published_twin
from pkgrun.pipeline.hosts import LOCAL, BuildHost, Down, Watch, answers, engine_failed, local_host
from pkgrun.pipeline.jobs import Job, plan_of, plan_requests
from pkgrun.pipeline.outcome import HostUse, Outcome, Request, RunResult, Status
from pkgrun.pipeline.rebuild import rebuild_published
from pkgrun.pipeline.result import BuildResult
from pkgrun.pipeline.scheduler import HostLost, Node, Slots, graph, schedule
from pkgrun.repo.data import DistView, Snapshot
from pkgrun.repo.publish import record_builds
from pkgrun.report import Labelled, Reporter
from pkgrun.rpm.header import content_digest, read_header
from pkgrun.targets import Packager, Target
from pkgrun.trust.signing import SigningKey

log = logging.getLogger("pkgrun.pipeline")


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
    return Run(requests, settings, hosts, reporter, key, identities, down).run()


class Run:
    """One run's requests (Job), its hosts, and the repository as it found it (Snapshot)."""

    def __init__(
        self,
        requests: Sequence[Request],
        settings: Settings,
        hosts: Engine | Sequence[BuildHost],
        reporter: Reporter,
        key: SigningKey | None,
        identities: buildcache.Identities | None,
        down: Sequence[Down],
    ) -> None:
        self.started, self.clock = datetime.now(UTC), time.monotonic()
        self.settings, self.reporter, self.key = settings, reporter, key
        self.identities = identities or buildcache.Identities()
        self.recipes = {r.loaded.name: r.loaded for r in requests}
        plans = plan_requests(requests, settings)
        self.jobs = {
            node: Job(r, plans[node], Outcome(node[0], node[1], plans[node].version))
            for r in requests
            for node in [(r.target.name, r.loaded.name)]
        }
        self.nodes = graph([r.loaded for r in requests], {r.target for r in requests}, only=set(self.jobs))
        self.snapshot = Snapshot(settings.repo)
        for job in self.jobs.values():  # a named iteration that is published is refused before any work
            if job.named:
                release_for(job.plan, self.view(job), explicit=True, force=settings.force)
        if isinstance(hosts, Engine):
            hosts = [local_host(hosts, settings, len(self.nodes))]
        self.hosts = {host.name: host for host in hosts}
        self.uses = {h.name: HostUse(h.name, str(h.engine), h.builds) for h in hosts}
        self.uses.update({d.host: HostUse(d.host, "", 0, down=d.reason) for d in down})
        self.uses_lock = threading.Lock()
        # a host's failure is told from a build's own only where another host can take the build:
        # a run on this machine's engine alone fails as it always did
        self.several = len(hosts) > 1 or any(h.engine.remote for h in hosts)
        self.watch = Watch(hosts)
        self.labelled = len({n[0] for n in self.nodes}) > 1

    def run(self) -> RunResult:
        slots = [Slots(h.name, h.builds, partial(self._takes, h)) for h in self.hosts.values()]
        with self.watch.running():
            schedule(
                self.nodes,
                self.work,
                slots,
                self.expected_seconds(),
                needs_host=self.needs_host,
                stranded=self.stranded,
                lost=self.lost,
                lost_build=self.lost_build,
                answering=lambda host: host not in self.watch.gone,
            )
        return RunResult(
            self.started,
            [self.jobs[node].outcome for node in self.nodes],
            time.monotonic() - self.clock,
            list(self.uses.values()),
        )

    def view(self, job: Job) -> DistView:
        return self.snapshot.view(job.plan.target.dist)

    def expected_seconds(self) -> dict[Node, float]:
        """How long each build took last time, as the repository's build index recorded it."""
        seconds = {node: self.view(job).seconds(buildcache.key(job.plan)) for node, job in self.jobs.items()}
        return {node: s for node, s in seconds.items() if s is not None}

    def _takes(self, host: BuildHost, node: Node) -> bool:
        return host.takes(self.jobs[node].plan)

    def _reporter(self, job: Job) -> Reporter:
        return Labelled(self.reporter, job.plan.target.name) if self.labelled else self.reporter

    # -- deciding, before any host is given to a job

    def needs_host(self, node: Node) -> bool:
        """Decide whether ``node`` builds: what is skipped, blocked or used as published takes
        no host's time. A recipe whose decision fails fails; the run goes on."""
        job = self.jobs[node]
        outcome, began = job.outcome, time.monotonic()
        try:
            return self.decide(node, job)
        except PkgrunError as exc:
            outcome.status, outcome.error, outcome.exception = Status.FAILED, exc.message, exc
            return False
        except Exception as exc:  # a bug of pkgrun's: this recipe fails, the run goes on
            log.debug("deciding %s for %s", node[1], node[0], exc_info=True)  # --debug shows it
            outcome.status, outcome.error = Status.FAILED, f"pkgrun could not decide: {exc!r}"
            outcome.exception = PkgrunError(outcome.error, hint="run with --debug, and report it")
            return False
        finally:
            outcome.seconds += time.monotonic() - began

    def decide(self, node: Node, job: Job) -> bool:
        plan, outcome = job.plan, job.outcome
        failed = [
            d[1] for d in self.nodes[node] if self.jobs[d].outcome.status in (Status.FAILED, Status.BLOCKED)
        ]
        job.decision = decision = blocked_by(failed) or self._decided(job)
        outcome.reason = decision.reason
        if decision.action is Action.BLOCKED:
            outcome.status = Status.BLOCKED
        elif decision.action is Action.USE_PUBLISHED:
            outcome.status, job.package = Status.SKIPPED, decision.published
            outcome.nevra = read_header(decision.published).nevra  # type: ignore[arg-type]
            self._reporter(job).note(plan.name, f"using the published {decision.published.name}")  # type: ignore[union-attr]
        elif decision.action in (Action.SKIP, Action.VERIFY):
            outcome.status, outcome.nevra, job.package = Status.SKIPPED, decision.nevra, decision.published
        elif decision.said:
            self._reporter(job).note(plan.name, decision.said)
        return decision.builds

    def _decided(self, job: Job) -> Decision:
        """What the published view and the build's inputs say of a job whose needs all succeeded."""
        plan = job.plan
        job.deps = {name: self.package_of(plan.target, name) for name in plan.loaded.recipe.build.recipes}
        job.inputs = buildcache.inputs_of(
            plan,
            image=self.identities.image(plan.target),
            packager=self.identities.packager(plan.packager),
            recipes={name: content_digest(rpm) for name, rpm in job.deps.items() if rpm},
        )
        return decide(
            job.request.mode,
            plan,
            job.inputs,
            self.view(job),
            named=job.named,
            force=self.settings.force,
            verify_skipped=self.settings.verify_skipped,
        )

    def package_of(self, target: Target, name: str) -> Path | None:
        """A recipe's package for this run: built in it, else the newest published."""
        job = self.jobs.get((target.name, name))
        return (job.package if job else None) or self.snapshot.view(target.dist).newest(name)

    def siblings(self, plan: BuildPlan) -> list[Path]:
        """The packages of the recipes ``plan``'s package requires at run time, and of those
        they require, for its install test: as a server's package manager would find them."""
        out: dict[str, Path] = {}
        todo = list(plan.loaded.recipe.recipe_requires)
        while todo:
            name = todo.pop(0)
            if name in out or name == plan.name:
                continue
            rpm = self.package_of(plan.target, name)
            if rpm is None:
                raise PkgrunError(
                    f"{plan.name} requires the package of {name}, which is neither built in this run nor "
                    "published",
                    hint=f"build it first: pkgrun build {name} (or name both on one pkgrun build)",
                )
            out[name] = rpm
            if name in self.recipes:
                todo += self.recipes[name].recipe.recipe_requires
        return list(out.values())

    # -- on a host

    def work(self, node: Node, host_name: str) -> None:
        job, host = self.jobs[node], self.hosts[host_name]
        outcome = job.outcome
        if outcome.retried:
            outcome.retried[-1] += f"; tried again on {host.name}"
            outcome.status, outcome.error, outcome.exception, outcome.log_tail = (
                Status.BLOCKED,
                None,
                None,
                None,
            )
        job.attempts.append(host.name)
        outcome.host = host.name
        began = time.monotonic()
        try:
            if host.name in self.watch.gone:  # found hanging while this build waited for it
                raise EngineDown(host.engine, self.watch.gone[host.name])
            with self.watch.building(host):
                if job.decision is not None and job.decision.action is Action.VERIFY:
                    self.verify(job, host)
                else:
                    self.build(job, host)
        except PkgrunError as exc:  # one recipe's failure is reported, the others go on
            gone = self.watch.gone.get(host.name)
            if gone is None and self.several and engine_failed(host, exc):
                gone = answers(host)
            # its own error is kept whatever comes next: a retry clears it, a stranding adds to it
            outcome.status, outcome.error, outcome.exception = Status.FAILED, exc.message, exc
            outcome.log_tail = _tail_of(exc, outcome.log)
            if gone is not None:
                raise HostLost(host.name, gone) from None
        finally:
            took = time.monotonic() - began
            outcome.seconds += took
            with self.uses_lock:
                self.uses[host.name].builds += 1
                self.uses[host.name].busy += took

    def lost_build(self, node: Node, host: str, reason: str, again: bool) -> None:
        outcome = self.jobs[node].outcome
        if again:
            outcome.retried.append(f"{host} went down during the build ({reason})")
            self.reporter.note(node[1], f"build host {host} does not answer ({reason}): trying another")
        else:
            outcome.error = f"{outcome.error} ({host} does not answer: {reason})"

    def stranded(self, node: Node, why: str) -> None:
        job = self.jobs[node]
        outcome = job.outcome
        if (
            job.decision is not None and job.decision.action is Action.VERIFY
        ):  # could not be rebuilt to check it
            outcome.verify_error = f"no build host could rebuild it: {why}"
            return
        said = f"no build host could run it: {why}"
        outcome.status, outcome.error = Status.FAILED, f"{outcome.error}; {said}" if outcome.error else said
        outcome.exception = PkgrunError(
            outcome.error,
            hint=f"check the build hosts and [[hosts]] targets and arch in {self.settings.config_file}",
        )

    def lost(self, host: str, reason: str) -> None:
        self.uses[host].down = reason
        self.reporter.note(f"host {host}", f"down for the rest of the run: {reason}")

    def verify(self, job: Job, host: BuildHost) -> None:
        """Rebuild the published package a skipped job stands on, to check it (--verify-skipped)."""
        plan, outcome, labelled = job.plan, job.outcome, self._reporter(job)
        published = job.package
        assert published is not None  # a VERIFY decision names it
        try:
            outcome.verdict = rebuild_published(
                plan.loaded,
                plan.target,
                settings=self.settings,
                engine=host.engine,
                identities=self.identities,
                reporter=labelled,
                published=published,
                view=self.view(job),
            )
        except PkgrunError as exc:
            outcome.verify_error = exc.message
        labelled.note(plan.name, f"rebuilt to check {published.name}: {outcome.verified}")

    def final_plan(self, job: Job, host: BuildHost) -> BuildPlan:
        """The plan that runs, made once its release (the decision's) and host (its make -j) are known."""
        assert job.decision is not None
        options = job.plan.options
        if host.make_jobs is not None and host.make_jobs != options.make_jobs:
            options = replace(options, make_jobs=host.make_jobs)
        if options == job.plan.options and job.decision.iteration in ("", job.plan.iteration):
            return job.plan
        return plan_of(job.request, self.settings, options, job.decision.iteration or None)

    def build(self, job: Job, host: BuildHost) -> None:
        settings, outcome = self.settings, job.outcome
        plan = job.final = self.final_plan(job, host)
        labelled = self._reporter(job)
        outcome.log = settings.logs / f"{plan.name}-{plan.version}-{plan.release}-{_stamp()}.log"
        if self.several:
            labelled.note(
                plan.name, f"builds on {host.name} ({host.engine}, make -j{plan.options.make_jobs})"
            )
        ctx = BuildContext(
            plan=plan,
            engine=host.engine,
            settings=settings,
            log=outcome.log,
            published=self.view(job),
            nfpm=self.identities.nfpm if plan.packager is Packager.NFPM else None,
            dependencies=[rpm for rpm in job.deps.values() if rpm],
            siblings=self.siblings(plan) if settings.install_test else (),
            key=self.key,
            host=host.name if host.name != LOCAL else "",
        )
        result = build_recipe(ctx, labelled)
        if result.compile and result.compile.startswith("compile reused"):  # said where it happened
            outcome.reason += f"; {result.compile}"
        self.deliver(job, result, labelled)

    def deliver(self, job: Job, result: BuildResult, labelled: Reporter) -> None:
        """What the build becomes: nothing new (it equals the published package apart from its
        release: recorded, not published), or published; the run's view is read again after."""
        settings, outcome, plan, inputs = self.settings, job.outcome, result.plan, job.inputs
        assert inputs is not None
        # nothing new for servers? Not asked where the user named the release, forces it, or
        # does not publish
        asked = settings.force or job.named or not settings.publish
        twin = None if asked else published_twin(result, self.view(job))
        if twin is not None:  # nothing new for servers: keep the published one, record why
            outcome.status, outcome.result = Status.IDENTICAL, result
            outcome.reason += f"; identical to the published {twin.name} apart from release and signature"
            outcome.nevra, outcome.rpm, job.package = read_header(twin).nevra, str(twin), twin
            labelled.note(plan.name, f"identical to the published {twin.name}: not published again")
            if settings.publish:
                iteration = iteration_of(twin, plan)
                entry = buildcache.entry(inputs, outcome.nevra, twin.name, iteration, result.full_seconds)
                record_builds(settings.repo, plan.target, {buildcache.key(plan): entry}, reporter=labelled)
                self.snapshot.refresh(plan.target.dist)
            return
        if settings.publish:
            outcome.published = deliver(result, inputs, settings, labelled, self.key)
            self.snapshot.refresh(plan.target.dist)
            result = BuildResult(**{**result.__dict__, "steps": (*result.steps, Step.PUBLISH)})
        job.package = result.rpm
        outcome.status, outcome.result = Status.BUILT, result
        outcome.nevra, outcome.rpm, outcome.size = result.info.nevra, str(result.rpm), result.info.size
        outcome.lint = [str(f) for f in result.lint.findings] if result.lint else []
        outcome.lint_grouped = grouped(result.lint.findings) if result.lint else []


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
