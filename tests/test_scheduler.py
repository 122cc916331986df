"""The scheduler: every node once, after what it needs, at most ``jobs`` at a time, and the
longest chain of expected work first."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from pkgrun.scheduler import Node, critical_path, schedule


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
    schedule(nodes, lambda node: started.append(node[1]), 1, seconds)
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

    def work(node: Node) -> None:
        with lock:
            assert all(dep in done for dep in nodes[node])
            at_once[0] += 1
            at_once[1] = max(at_once[1], at_once[0])
        time.sleep(0.001)
        with lock:
            at_once[0] -= 1
            done.append(node)

    schedule(nodes, work, jobs, {("t", str(k)): v for k, v in seconds.items()})
    assert sorted(done) == sorted(nodes)
    assert at_once[1] <= jobs
