"""rpmlint's findings as pkgrun reports them: only what fails the build is called an error,
a recipe leaves a check out with a reason ([lint] ignore), and pkgrun's own signing key is
never a finding (pkgrun checks the signature against it itself)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import make_rpm, require_tools
from pkgrun import lint
from pkgrun.lint import grouped, lint_rpm


def test_rpmlint_on_a_real_package_with_a_check_ignored(tmp_path: Path) -> None:
    require_tools("rpmlint")
    rpm = make_rpm(tmp_path, "demo")
    every = lint_rpm(rpm, ["no-group-tag"])
    assert [str(f) for f in every.failing] == ["no-group-tag"]  # nfpm writes no Group
    ignored = lint_rpm(rpm, ["no-binary"], ignore={"no-group-tag": "el8 and later drop Group"})
    assert "no-group-tag" not in {f.check for f in ignored.findings}
    assert ignored.ignored == 1
    assert ignored.summary().endswith("; 1 ignored ([lint] ignore)")
    assert not any(line.startswith(("E:", "W:")) for line in grouped(ignored.findings))


def test_pkgrun_s_own_key_is_never_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    output = (
        "demo.x86_64: E: unknown-key (MD5 SHA1) RSA#306c6bae\n"
        "demo.x86_64: E: unknown-key (MD5 SHA1) RSA#deadbeef\n"
        "demo.x86_64: W: no-documentation\n"
    )
    monkeypatch.setattr(
        lint, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 1, stdout=output, stderr="")
    )
    result = lint_rpm(Path("demo.rpm"), [], key_id="05CDDCF915E2AE22D676E23EF6F5030F306C6BAE")
    assert [str(f) for f in result.findings] == ["unknown-key (MD5 SHA1) RSA#deadbeef", "no-documentation"]
