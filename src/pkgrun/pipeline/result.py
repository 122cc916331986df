"""What a build made: the verified RPM and what the build learned on the way (its steps, lint
findings, install test, the compile cache's answer, what went in and out of its containers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pkgrun.build.lint import LintResult
from pkgrun.build.plan import BuildPlan
from pkgrun.engine.container import Transfers
from pkgrun.install.install_test import InstallTestReport
from pkgrun.rpm.query import RpmInfo
from pkgrun.trust import sbom


@dataclass(frozen=True)
class BuildResult:
    plan: BuildPlan
    rpm: Path
    info: RpmInfo
    seconds: float
    log: Path
    steps: tuple[str, ...]  # the plan's names of the steps that ran, in order
    lint: LintResult | None = None
    install_test: InstallTestReport | None = None
    source_date_epoch: int = 0
    compile: str | None = None  # "compile reused (key ...)" or "compiled (key ...)"; None: no cache
    reused_seconds: float = 0.0  # how long the reused compile took when it was made
    transfers: Transfers | None = None  # what went into its containers and came out

    @property
    def full_seconds(self) -> float:
        """How long the build would take compiling: what the scheduler expects next time."""
        return self.seconds + self.reused_seconds

    @property
    def sbom(self) -> Path:
        return self.rpm.with_name(sbom.file_name(self.rpm.name))

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.plan.name,
            "nevra": self.info.nevra,
            "rpm": str(self.rpm),
            "size": self.info.size,
            "files": len(self.info.files),
            "requires": self.info.requires,
            "packager": self.plan.packager.value,
            "target": self.plan.target.name,
            "seconds": round(self.seconds, 1),
            "log": str(self.log),
            "steps": list(self.steps),
            "sbom": str(self.sbom),
            "source_date_epoch": self.source_date_epoch,
            "compile": self.compile,
            "copied": self.transfers.to_json() if self.transfers else None,
            "rpmlint": [str(f) for f in self.lint.findings] if self.lint else None,
            "install_test": None
            if self.install_test is None
            else {
                "steps": [label for label, _ in self.install_test.steps],
                "upgraded_from": self.install_test.upgraded_from,
                "competitors": [{"repo": o.repo, "nevra": o.nevra} for o in self.install_test.competitors],
            },
        }
