"""A run's requests and what became of each: the records `pkgrun build`, the nightly job and
their reports share (pipeline.py makes them, console.py and run_report.py show them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pkgrun.errors import PkgrunError
from pkgrun.pipeline.rebuild import Verdict
from pkgrun.pipeline.result import BuildResult
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.repo.publish import Published
from pkgrun.targets import Target


class Mode(StrEnum):
    ALWAYS = "always"  # named on `pkgrun build`
    IF_MISSING = "if missing"  # needed by a named recipe: the published package if there is one
    IF_CHANGED = "if changed"  # the nightly job: when the inputs differ from the published package's


class Status(StrEnum):
    BUILT = "built"
    SKIPPED = "skipped"
    FAILED = "failed"
    BLOCKED = "blocked"  # a recipe it needs failed
    IDENTICAL = "identical"  # built, equal to the published package apart from release and signature


@dataclass(frozen=True)
class Request:
    loaded: LoadedRecipe
    target: Target
    mode: Mode
    version: str | None = None
    iteration: str | None = None


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
    lint_grouped: list[str] = field(default_factory=list)  # one line per check
    result: BuildResult | None = None
    published: list[Published] = field(default_factory=list)
    exception: PkgrunError | None = None
    verdict: Verdict | None = None  # a skipped build rebuilt to check it (--verify-skipped)
    verify_error: str | None = None  # why it could not be rebuilt
    host: str | None = None  # the build host it ran on (the last, when it was tried again)
    retried: list[str] = field(default_factory=list)  # the hosts lost under it, and why

    @property
    def verified(self) -> str | None:
        """What rebuilding the published package to check it found, in words."""
        if self.verify_error:
            return f"could not rebuild: {self.verify_error}"
        return self.verdict.summary() if self.verdict else None

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
            "verified": self.verdict.to_json() if self.verdict else None,
            "verify_error": self.verify_error,
            "host": self.host,
            "retried": self.retried,
            # seconds and bytes copied into its containers and out of them
            "copied": self.result.transfers.to_json() if self.result and self.result.transfers else None,
        }


@dataclass
class HostUse:
    """What a build host did in a run."""

    name: str
    engine: str
    slots: int
    builds: int = 0  # builds that ran there (skips decided without it are not counted)
    busy: float = 0.0  # seconds its slots were running builds, added up
    down: str | None = None  # why it was down, when it was

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "engine": self.engine,
            "slots": self.slots,
            "builds": self.builds,
            "busy_seconds": round(self.busy, 1),
            "down": self.down,
        }


@dataclass
class RunResult:
    started: datetime
    outcomes: list[Outcome]
    seconds: float = 0.0
    hosts: list[HostUse] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        failed = any(o.status in (Status.FAILED, Status.BLOCKED) for o in self.outcomes)
        unverified = any(o.verify_error or (o.verdict and not o.verdict.identical) for o in self.outcomes)
        return 1 if failed or unverified else 0

    @property
    def built(self) -> list[BuildResult]:
        return [o.result for o in self.outcomes if o.result is not None]


def counts(outcomes: Sequence[Outcome]) -> Mapping[str, int]:
    return {status.value: sum(o.status is status for o in outcomes) for status in Status}
