"""The run's snapshot of what is published: one read per distribution, and after two publishes
at once the view of the later read, whichever read ends first."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pkgrun.repo import data
from pkgrun.repo.data import Snapshot


def test_a_distribution_is_read_once_until_refreshed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    monkeypatch.setattr(data, "read_dist", lambda root, dist: reads.append(dist) or f"view {len(reads)}")
    snapshot = Snapshot(tmp_path)
    assert [snapshot.view("local"), snapshot.view("local"), snapshot.view("el9")] == ["view 1"] * 2 + [
        "view 2"
    ]
    assert snapshot.refresh("local") == "view 3" and snapshot.view("local") == "view 3"
    assert reads == ["local", "el9", "local"]


def test_of_two_refreshes_the_later_read_is_kept_whichever_ends_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first thread's read (begun before the second publish) ends last: its older view must
    not replace the newer one, which lists both packages."""
    first_reading, second_done = threading.Event(), threading.Event()
    calls: list[str] = []

    def read_dist(root: Path, dist: str) -> str:
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "first":
            first_reading.set()
            assert second_done.wait(10)
            return "without the second package"
        return "with both packages"

    monkeypatch.setattr(data, "read_dist", read_dist)
    snapshot = Snapshot(tmp_path)
    first = threading.Thread(target=snapshot.refresh, args=("local",), name="first")
    first.start()
    assert first_reading.wait(10)
    assert snapshot.refresh("local") == "with both packages"
    second_done.set()
    first.join(10)
    assert calls[0] == "first" and snapshot.view("local") == "with both packages"
