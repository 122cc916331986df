"""Dependency-ordered, parallel work over (target, recipe) nodes.

A recipe's edges are the recipes it needs: to build ([build] recipes, installed into its build
container) and at run time ([requires] recipes, installed beside it in its install test). They
are ordered with graphlib; a node starts once every node it needs is done, ``jobs`` at a time,
in threads, the longest chain of expected work first (critical path). Ctrl-C reaches only the
main thread: it takes the builds' containers away (so the workers' commands end) and starts
nothing new.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pkgrun.container import remove_active_containers
from pkgrun.errors import UsageError
from pkgrun.recipe import LoadedRecipe
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


def schedule(
    nodes: Mapping[Node, set[Node]],
    work: Callable[[Node], None],
    jobs: int,
    seconds: Mapping[Node, float] | None = None,
) -> None:
    """Run ``work`` on every node once the nodes it needs are done, ``jobs`` at a time; of the
    nodes ready, the one on the longest chain of expected work (``seconds``, as measured last
    time) first, so that the long builds do not start last."""
    rank = critical_path(nodes, seconds or {})
    sorter = graphlib.TopologicalSorter(nodes)
    sorter.prepare()
    jobs = max(1, jobs)
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pkgrun-build")
    try:
        running: dict[Future[None], Node] = {}
        ready: list[Node] = []
        while sorter.is_active():
            ready += sorter.get_ready()
            ready.sort(key=lambda n: (-rank.get(n, 0.0), n))
            while ready and len(running) < jobs:
                node = ready.pop(0)
                running[pool.submit(work, node)] = node
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a bug in pkgrun itself stops the run
                sorter.done(running.pop(future))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        remove_active_containers()
        raise
    finally:
        pool.shutdown(wait=True)
