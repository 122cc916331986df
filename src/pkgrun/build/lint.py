"""rpmlint on a built RPM: every finding listed, the checks a recipe names fail the build."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
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
        # rpmlint's own E/W is not shown: only what fails the build is an error (LintResult)
        return f"{self.check} {self.detail}".rstrip()


@dataclass(frozen=True)
class LintResult:
    findings: list[Finding]  # every finding reported: not ignored
    failing: list[Finding]  # findings of the checks that fail the build
    ignored: int = 0  # findings of the checks the recipe's [lint] ignore names, with a reason

    def summary(self) -> str:
        """What fails the build and what is advice, plainly."""
        advice = len(self.findings) - len(self.failing)
        fails = (
            "nothing fails the build"
            if not self.failing
            else f"{len(self.failing)} finding(s) fail the build"
        )
        ignored = f"; {self.ignored} ignored ([lint] ignore)" if self.ignored else ""
        return f"{fails}; {advice} finding(s) are advice (the checks [lint] fail does not name){ignored}"


def grouped(findings: Sequence[Finding]) -> list[str]:
    """One line per check: level, check, count and the first details."""
    by_check: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        by_check.setdefault((f.level, f.check), []).append(f.detail)
    lines = []
    for (_level, check), details in sorted(by_check.items()):
        shown = "; ".join(d for d in details[:2] if d)
        more = f" (+{len(details) - 2} more)" if len(details) > 2 else ""
        lines.append(f"{check} x{len(details)}: {shown}{more}".rstrip(": "))
    return lines


def rpmlint_argv(rpm: Path) -> list[str]:
    return ["rpmlint", str(rpm)]


def parse_findings(output: str) -> list[Finding]:
    findings = []
    for line in output.splitlines():
        match = _FINDING.match(line.strip())
        if match:
            findings.append(Finding(match["level"], match["check"], match["detail"] or ""))
    return findings


def lint_rpm(
    rpm: Path, fail_checks: Sequence[str], ignore: Collection[str] = (), key_ids: Collection[str] = ()
) -> LintResult:
    """rpmlint's findings of ``rpm``, those of the checks in ``ignore`` left out, and so is the
    unknown-key finding of pkgrun's own signing key (``key_ids``: the IDs its signatures carry,
    a signing subkey's among them), which pkgrun checked the signature against itself."""
    # rpmlint exits non-zero when it finds errors: its findings, not its status, are the result
    result = run(rpmlint_argv(rpm), check=False, hint=LINT_HINT)
    every = parse_findings(result.stdout)
    mine = [f for f in every if not _own_key(f, key_ids)]
    findings = [f for f in mine if f.check not in ignore]
    return LintResult(findings, [f for f in findings if f.check in fail_checks], len(mine) - len(findings))


def _own_key(finding: Finding, key_ids: Collection[str]) -> bool:
    """An unknown-key finding naming one of ``key_ids`` (by at least its last 8 hex digits)."""
    detail = finding.detail.lower()
    return finding.check == "unknown-key" and any(key.lower()[-8:] in detail for key in key_ids)
