"""rpmlint on a built RPM: every finding listed, the checks a recipe names fail the build."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pkgrun.run import run

# rpmlint 2 prints one finding a line: "nginx.x86_64: E: dir-or-file-in-usr-local /usr/local/nginx"
_FINDING = re.compile(r"^(?P<package>\S+): (?P<level>[EW]): (?P<check>[\w%.+-]+)(?: (?P<detail>.*))?$")
LINT_HINT = "install rpmlint (Debian/Ubuntu: apt-get install rpmlint)"


@dataclass(frozen=True)
class Finding:
    level: str  # "E" or "W"
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level}: {self.check} {self.detail}".rstrip()


@dataclass(frozen=True)
class LintResult:
    findings: list[Finding]
    failing: list[Finding]  # findings of the checks that fail the build

    def summary(self) -> str:
        errors = sum(f.level == "E" for f in self.findings)
        return f"{errors} errors, {len(self.findings) - errors} warnings, {len(self.failing)} failing"


def rpmlint_argv(rpm: Path) -> list[str]:
    return ["rpmlint", str(rpm)]


def parse_findings(output: str) -> list[Finding]:
    findings = []
    for line in output.splitlines():
        match = _FINDING.match(line.strip())
        if match:
            findings.append(Finding(match["level"], match["check"], match["detail"] or ""))
    return findings


def lint_rpm(rpm: Path, fail_checks: Sequence[str]) -> LintResult:
    # rpmlint exits non-zero when it finds errors: its findings, not its status, are the result
    result = run(rpmlint_argv(rpm), check=False, hint=LINT_HINT)
    findings = parse_findings(result.stdout)
    return LintResult(findings, [f for f in findings if f.check in fail_checks])
