"""The scheduler: every node once, after what it needs, at most each host's capacity at a time,
the longest chain of expected work first, and a node whose host is lost once more elsewhere."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from pkgrun.pipeline.scheduler import HostLost, Node, Slots, critical_path, schedule


def test_the_longest_chain_starts_first() -> None:
    # php is long; libgreet is short but greet, which needs it, is longer than php
    nodes: dict[Node, set[Node]] = {
        ("el7", "nginx"): set(),
        ("el7", "php"): set(),
        ("el7", "libgreet"): set(),
        ("el7", "greet"): {("el7", "libgreet")},
    }
    seconds = {
        ("el7", "nginx"): 60.0,
        ("el7", "php"): 400.0,
        ("el7", "libgreet"): 5.0,
        ("el7", "greet"): 500.0,
    }
    rank = critical_path(nodes, seconds)
    assert rank[("el7", "libgreet")] == 505.0
    started: list[str] = []
    schedule(nodes, lambda node, host: started.append(node[1]), [Slots("here", 1)], seconds)
    assert started == ["libgreet", "greet", "php", "nginx"]


def test_a_node_never_timed_counts_as_the_median() -> None:
    nodes: dict[Node, set[Node]] = {
        ("t", "a"): set(),
        ("t", "b"): set(),
        ("t", "c"): set(),
        ("t", "new"): set(),
    }
    rank = critical_path(nodes, {("t", "a"): 10.0, ("t", "b"): 20.0, ("t", "c"): 30.0})
    assert rank[("t", "new")] == 20.0


@settings(max_examples=40, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20),
    seconds=st.dictionaries(st.integers(0, 7), st.floats(0, 100), max_size=8),
    jobs=st.integers(1, 3),
)
def test_every_node_runs_once_after_what_it_needs(
    edges: list[tuple[int, int]], seconds: dict[int, float], jobs: int
) -> None:
    # edges only from a higher to a lower number: no cycle
    nodes: dict[Node, set[Node]] = {("t", str(i)): set() for i in range(8)}
    for a, b in edges:
        if a > b:
            nodes[("t", str(a))].add(("t", str(b)))
    done: list[Node] = []
    lock = threading.Lock()
    at_once = [0, 0]

    def work(node: Node, host: str) -> None:
        with lock:
            assert all(dep in done for dep in nodes[node])
            at_once[0] += 1
            at_once[1] = max(at_once[1], at_once[0])
        time.sleep(0.001)
        with lock:
            at_once[0] -= 1
            done.append(node)

    schedule(nodes, work, [Slots("here", jobs)], {("t", str(k)): v for k, v in seconds.items()})
    assert sorted(done) == sorted(nodes)
    assert at_once[1] <= jobs


def test_each_host_takes_its_capacity_longest_first() -> None:
    nodes: dict[Node, set[Node]] = {("t", name): set() for name in "abcdef"}
    seconds = {("t", name): float(i) for i, name in enumerate("abcdef")}  # f is the longest
    lock = threading.Lock()
    running = {"big": 0, "small": 0}
    most = {"big": 0, "small": 0}
    order: list[tuple[str, str]] = []

    def work(node: Node, host: str) -> None:
        with lock:
            order.append((node[1], host))
            running[host] += 1
            most[host] = max(most[host], running[host])
        time.sleep(0.05)
        with lock:
            running[host] -= 1

    schedule(nodes, work, [Slots("big", 2), Slots("small", 1)], seconds)
    assert most == {"big": 2, "small": 1}  # every slot used, none more
    assert [name for name, _ in order[:3]] == ["f", "e", "d"]  # the longest start first
    assert {host for _, host in order[:3]} == {"big", "small"}
    assert sorted(name for name, _ in order) == list("abcdef")


def test_a_node_whose_host_is_lost_runs_once_more_elsewhere() -> None:
    nodes: dict[Node, set[Node]] = {("t", "a"): set(), ("t", "b"): set(), ("t", "c"): {("t", "a")}}
    ran: list[tuple[str, str]] = []
    lost: list[tuple[str, str]] = []
    stranded: list[tuple[Node, str]] = []

    def work(node: Node, host: str) -> None:
        ran.append((node[1], host))
        if host == "flaky":
            raise HostLost("flaky", "connection refused")

    schedule(
        nodes,
        work,
        [Slots("flaky", 2), Slots("steady", 1)],
        {("t", "a"): 9.0, ("t", "b"): 1.0, ("t", "c"): 1.0},
        stranded=lambda node, why: stranded.append((node, why)),
        lost=lambda host, why: lost.append((host, why)),
    )
    assert lost == [("flaky", "connection refused")]  # said once, then down for the run
    assert ("a", "flaky") in ran and ("a", "steady") in ran
    assert all(host == "steady" for name, host in ran if name == "c")  # nothing new on a lost host
    assert sorted(name for name, host in ran if host == "steady") == ["a", "b", "c"]
    assert stranded == []


def test_a_node_is_tried_on_two_hosts_at_most_and_then_its_failure_stands() -> None:
    """Lost on two hosts with a third up: not tried again; ``lost_build`` hears it runs no more
    (the build's own failure then stands, saying the host it was lost on), nothing is stranded."""
    nodes: dict[Node, set[Node]] = {("t", "a"): set(), ("t", "after"): {("t", "a")}}
    ran: list[tuple[str, str]] = []
    stranded: list[tuple[Node, str]] = []
    told: list[tuple[str, bool]] = []

    def work(node: Node, host: str) -> None:
        ran.append((node[1], host))
        if node[1] == "a":
            raise HostLost(host, f"{host} vanished")

    hosts = [Slots("one", 1), Slots("two", 1), Slots("three", 1)]
    schedule(
        nodes,
        work,
        hosts,
        stranded=lambda node, why: stranded.append((node, why)),
        lost_build=lambda node, host, reason, again: told.append((host, again)),
    )
    assert [host for name, host in ran if name == "a"] == ["one", "two"]
    assert told == [("one", True), ("two", False)]
    assert stranded == []
    assert ("after", "three") in ran  # what needs it still runs, and sees it failed


def test_a_node_no_host_takes_is_stranded_at_once() -> None:
    nodes: dict[Node, set[Node]] = {("el9", "a"): set(), ("el7", "b"): set()}
    ran: list[Node] = []
    stranded: list[tuple[Node, str]] = []
    el7_only = Slots("old", 1, takes=lambda node: node[0] == "el7")
    schedule(
        nodes, lambda node, host: ran.append(node), [el7_only], stranded=lambda n, w: stranded.append((n, w))
    )
    assert ran == [("el7", "b")]
    assert stranded == [(("el9", "a"), "no build host that takes it is up")]
