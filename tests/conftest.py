"""Fixtures shared by the tests: the pipeline with the fake engine (fake_engine.py), and an
environment free of the runner's terminal size."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import require_tools


@pytest.fixture(autouse=True)
def no_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's terminal size is not the tests': a shell's exported COLUMNS, or pytest-xdist's
    workers (which set COLUMNS=80), would cut the tables that tests read as a log holds them."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture
def pipeline_tools() -> None:
    """rpm reads every package back, rpmlint lints it, gpg signs: on the host, as in a real build."""
    require_tools("rpm", "rpmlint", "gpg")


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)
