"""Dependency-ordered, parallel work over (target, recipe) nodes.

A recipe's edges are the recipes it needs: to build ([build] recipes, installed into its build
container) and at run time ([requires] recipes, installed beside it in its install test). They
are ordered with graphlib; a node starts once every node it needs is done, in threads, the
longest chain of expected work first (critical path), on a build host with a free slot (each
host takes as many builds at once as it was given). A build whose host stops answering runs
again on another host, once. Ctrl-C reaches only the main thread: it takes the builds'
containers away (so the workers' commands end) and starts nothing new.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from pkgrun.engine.container import remove_active_containers
from pkgrun.errors import UsageError
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.targets import Target

Node = tuple[str, str]  # (target, recipe)


def graph(
    recipes: Sequence[LoadedRecipe], targets: Iterable[Target], only: set[Node] | None = None
) -> dict[Node, set[Node]]:
    """Each (target, recipe) with the nodes it waits for (those in ``only``, when given); a
    cycle is a usage error."""
    nodes: dict[Node, set[Node]] = {}
    names = {item.name for item in recipes}
    for target in sorted(targets, key=lambda t: t.name):
        for item in recipes:
            node = (target.name, item.name)
            if only is not None and node not in only:
                continue
            deps = {(target.name, dep) for dep in needs(item) if dep in names}
            nodes[node] = {dep for dep in deps if only is None or dep in only}
    try:
        tuple(graphlib.TopologicalSorter(nodes).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(recipe for _, recipe in exc.args[1])
        raise UsageError(
            f"the recipes need each other in a cycle: {cycle}",
            hint="remove one of the [build] recipes entries of the cycle",
        ) from None
    return nodes


def needs(item: LoadedRecipe) -> list[str]:
    """The recipes ``item`` needs: to build, then at run time."""
    return list(dict.fromkeys([*item.recipe.build.recipes, *item.recipe.recipe_requires]))


def needed(recipes: Mapping[str, LoadedRecipe], names: Iterable[str]) -> list[str]:
    """``names`` and every recipe they need (to build or at run time), needed ones first."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in needs(recipes[name]):
            if dep in recipes:
                visit(dep)
        order.append(name)

    for name in names:
        visit(name)
    return order


def critical_path(nodes: Mapping[Node, set[Node]], seconds: Mapping[Node, float]) -> dict[Node, float]:
    """Each node's length of the longest chain of work that starts with it: its own expected
    seconds plus the longest of the nodes that wait for it. A node never timed counts as the
    median of those that were (0 when none was)."""
    known = sorted(seconds[n] for n in nodes if n in seconds)
    guess = known[len(known) // 2] if known else 0.0
    waiting: dict[Node, list[Node]] = {node: [] for node in nodes}
    for node, deps in nodes.items():
        for dep in deps:
            waiting.setdefault(dep, []).append(node)
    rank: dict[Node, float] = {}
    for node in reversed(tuple(graphlib.TopologicalSorter(nodes).static_order())):
        after = max((rank[w] for w in waiting.get(node, ()) if w in rank), default=0.0)
        rank[node] = seconds.get(node, guess) + after
    return rank


@dataclass(frozen=True)
class Slots:
    """A build host as the scheduler sees it: its name, how many builds it takes at once, and
    which nodes it may run."""

    host: str
    capacity: int
    takes: Callable[[Node], bool] = lambda node: True


class HostLost(Exception):
    """Raised by ``work`` when the host it ran on stopped answering: the host is down for the
    rest of the run, and the scheduler runs the node again on another host, or ends it."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host, self.reason = host, reason


# a build whose host was lost runs at most this often in all
ATTEMPTS = 2


def schedule(
    nodes: Mapping[Node, set[Node]],
    work: Callable[[Node, str], None],
    hosts: Sequence[Slots],
    seconds: Mapping[Node, float] | None = None,
    *,
    needs_host: Callable[[Node], bool] = lambda node: True,
    stranded: Callable[[Node, str], None] = lambda node, why: None,
    lost: Callable[[str, str], None] = lambda host, reason: None,
    lost_build: Callable[[Node, str, str, bool], None] = lambda node, host, reason, again: None,
    answering: Callable[[str], bool] = lambda host: True,
) -> None:
    """Run ``work(node, host)`` on every node once the nodes it needs are done. Each host runs
    at most its capacity at once; of the nodes ready, the one on the longest chain of expected
    work (``seconds``, as measured last time) starts first, on the host with the most free
    slots, so that the long builds do not start last.

    ``work`` raises HostLost when its host stopped answering: the host is down for the rest of
    the run (``lost``), and the node runs again on another host that takes it and is
    ``answering``: ``lost_build(node, host, reason, again)`` is told first whether it does (else
    its own failure stands; at most ATTEMPTS hosts in all). A node no host that is up can run
    (any more) is done as ``stranded`` says why; the nodes that need it
    still run, and see that it did not succeed. ``needs_host`` is asked once per node, when it
    is ready, in this thread: a node it says needs none (skipped, blocked) is done without one."""
    _Scheduler(
        nodes,
        work,
        hosts,
        seconds or {},
        needs_host=needs_host,
        stranded=stranded,
        lost=lost,
        lost_build=lost_build,
        answering=answering,
    ).run()


class _Scheduler:
    """One ``schedule`` call: the hosts that are up and their busy slots, the nodes ready and
    running, and the hosts each node was lost on. Only the main thread touches it."""

    def __init__(
        self,
        nodes: Mapping[Node, set[Node]],
        work: Callable[[Node, str], None],
        hosts: Sequence[Slots],
        seconds: Mapping[Node, float],
        *,
        needs_host: Callable[[Node], bool],
        stranded: Callable[[Node, str], None],
        lost: Callable[[str, str], None],
        lost_build: Callable[[Node, str, str, bool], None],
        answering: Callable[[str], bool],
    ) -> None:
        self.work, self.needs_host, self.stranded = work, needs_host, stranded
        self.lost, self.lost_build, self.answering = lost, lost_build, answering
        self.rank = critical_path(nodes, seconds)
        self.sorter = graphlib.TopologicalSorter(nodes)
        self.sorter.prepare()
        self.up = {slot.host: slot for slot in hosts}
        self.busy = dict.fromkeys(self.up, 0)
        self.tried: dict[Node, list[str]] = {}
        self.why_down: dict[str, str] = {}
        self.asked: set[Node] = set()
        self.ready: list[Node] = []
        self.running: dict[Future[None], tuple[Node, str]] = {}
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, sum(s.capacity for s in hosts)), thread_name_prefix="pkgrun-build"
        )

    def run(self) -> None:
        try:
            while self.sorter.is_active():
                self._start_ready()
                if self.running:  # else what was given up freed the nodes waiting for it
                    self._finish_next()
        except BaseException:
            self.pool.shutdown(wait=False, cancel_futures=True)
            remove_active_containers()
            raise
        finally:
            self.pool.shutdown(wait=True)

    def _start_ready(self) -> None:
        """Start each ready node, longest chain first, that has a free slot on a host that takes
        it; settle those that need no host or that no host up can run."""
        self.ready += self.sorter.get_ready()
        self.ready.sort(key=lambda n: (-self.rank.get(n, 0.0), n))
        for node in list(self.ready):
            if self._start(node):
                self.ready.remove(node)

    def _start(self, node: Node) -> bool:
        """Whether ``node`` left the ready ones: done without a host, given up, or started."""
        if node not in self.asked:
            self.asked.add(node)
            if not self.needs_host(node):
                self.sorter.done(node)
                return True
        tried = self.tried.get(node, [])
        candidates = [s for s in self.up.values() if s.takes(node) and s.host not in tried]
        if not candidates:  # a node lost on a host runs again only while ATTEMPTS allows (_host_lost)
            self._give_up(node)
            return True
        free = [s for s in candidates if self.busy[s.host] < s.capacity]
        if not free:
            return False
        slot = max(free, key=lambda s: s.capacity - self.busy[s.host])  # first of equals: config order
        self.busy[slot.host] += 1
        self.running[self.pool.submit(self.work, node, slot.host)] = (node, slot.host)
        return True

    def _finish_next(self) -> None:
        """Wait for the first running nodes to end, and settle them."""
        done, _ = wait(self.running, return_when=FIRST_COMPLETED)
        for future in done:
            node, host = self.running.pop(future)
            self.busy[host] -= 1
            try:
                future.result()  # a bug in pkgrun itself stops the run
            except HostLost as exc:
                self._host_lost(node, exc)
            else:
                self.sorter.done(node)

    def _host_lost(self, node: Node, exc: HostLost) -> None:
        """``node``'s host went down under it: run it again on another host that is answering
        (at most ATTEMPTS in all), or let its own failure stand, told the host was lost."""
        tried = self.tried.setdefault(node, [])
        tried.append(exc.host)
        again = len(tried) < ATTEMPTS and any(
            s.takes(node) and s.host not in tried and self.answering(s.host) for s in self.up.values()
        )
        self.lost_build(node, exc.host, exc.reason, again)
        self._take_down(exc.host, exc.reason)
        if again:
            self.ready.append(node)
        else:
            self.sorter.done(node)

    def _take_down(self, host: str, reason: str) -> None:
        """``host`` is down for the rest of the run (told once)."""
        if host in self.up:
            self.why_down[host] = reason
            del self.up[host]
            self.lost(host, reason)

    def _give_up(self, node: Node) -> None:
        """``node`` is done as stranded, saying why: no host up takes it (any more), after the hosts
        lost under it, if any."""
        history = [f"{host} went down ({self.why_down[host]})" for host in self.tried.get(node, [])]
        self.stranded(
            node, "; ".join([*history, f"no {'other ' if history else ''}build host that takes it is up"])
        )
        self.sorter.done(node)
