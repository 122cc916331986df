"""Fixtures shared by the tests that run the pipeline with the fake engine (fake_engine.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import require_tools


@pytest.fixture
def pipeline_tools() -> None:
    """rpm reads every package back, rpmlint lints it, gpg signs: on the host, as in a real build."""
    require_tools("rpm", "rpmlint", "gpg")


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)
