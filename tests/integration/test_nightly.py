"""The nightly job on small real recipes: only what changed rebuilds, nothing starts when
nothing changed, one failure stops nothing else, dependencies are honoured, reports are written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import TEST_RECIPES, TEST_SOURCES


@pytest.fixture
def project(tmp_path: Path, podman: str) -> Path:
    """A project with the nightly test recipes, a pkgrun.toml for the local target, and a
    podman on PATH that records every command it is given."""
    shutil.copytree(TEST_RECIPES / "nightly", tmp_path / "recipes")
    (tmp_path / "pkgrun.toml").write_text('[nightly]\ntargets = ["local"]\nkeep = 3\nkeep-reports = 2\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which("podman")
    (bin_dir / "podman").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/podman.calls\nexec {real} "$@"\n')
    (bin_dir / "podman").chmod(0o755)
    return tmp_path


def nightly(project: Path, build_env: dict[str, str]) -> tuple[int, dict, str]:
    env = dict(build_env, PATH=f"{project / 'bin'}:{os.environ['PATH']}", PKGRUN_REPO=str(project / "repo"))
    (project / "podman.calls").unlink(missing_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pkgrun",
            "nightly",
            "--engine",
            "podman",
            "--mirror",
            str(TEST_SOURCES),
            "--out",
            str(project / "out"),
            "--json",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stderr


def statuses(report: dict) -> dict[str, tuple[str, str]]:
    return {b["recipe"]: (b["status"], b["reason"]) for b in report["builds"]}


def containers_started(project: Path) -> list[str]:
    calls = (project / "podman.calls").read_text().splitlines() if (project / "podman.calls").exists() else []
    return [c for c in calls if c.startswith(("run ", "build ", "exec "))]


def test_only_what_changed_rebuilds(project, build_env) -> None:
    code, first, err = nightly(project, build_env)
    assert code == 0, err
    assert {r: s for r, (s, _) in statuses(first).items()} == {
        "alpha": "built",
        "beta": "built",
        "gamma": "built",
    }
    assert all(reason == "never built for local" for _, reason in statuses(first).values())
    # beta needs alpha: alpha's package was installed into beta's build
    beta_log = (project / "reports" / "latest" / "logs" / "beta-local.log").read_text()
    assert "rpm -U --nodeps --replacepkgs /pkgrun/deps/alpha-1.0-1.local.noarch.rpm" in beta_log

    code, second, err = nightly(project, build_env)
    assert code == 0, err
    assert statuses(second) == {r: ("skipped", "inputs unchanged") for r in ("alpha", "beta", "gamma")}
    assert containers_started(project) == []  # nothing rebuilt, no container started, no image built

    hook = project / "recipes" / "gamma" / "after_install.sh"
    hook.write_text(hook.read_text() + 'echo "gamma: a changed hook"\n')
    code, third, err = nightly(project, build_env)
    assert code == 0, err
    status, reason = statuses(third)["gamma"]
    assert status == "built" and reason.startswith("changed: after_install.sh changed; compile reused (key ")
    assert statuses(third)["alpha"][0] == statuses(third)["beta"][0] == "skipped"
    gamma = next(b for b in third["builds"] if b["recipe"] == "gamma")
    assert gamma["nevra"] == "gamma-0:1.0-1.1.local.noarch"  # a new release, not a clash with 1.local
    # packaged from the kept compile: the build script did not run
    assert "/pkgrun/recipe/build.sh" not in (project / "reports" / "latest" / gamma["log"]).read_text()

    reports = sorted(p.name for p in (project / "reports").iterdir() if not p.is_symlink())
    assert len(reports) == 2  # keep-reports = 2
    latest = project / "reports" / "latest"
    assert latest.resolve().name == reports[-1]
    assert json.loads((latest / "report.json").read_text())["counts"] == {
        "built": 1,
        "skipped": 2,
        "failed": 0,
        "blocked": 0,
        "identical": 0,
    }
    suite = ElementTree.parse(latest / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("3", "2", "0")
    page = (latest / "report.html").read_text()
    assert "changed: after_install.sh changed" in page and 'href="logs/gamma-local.log"' in page


def test_a_failure_stops_nothing_else_and_blocks_what_needs_it(project, build_env) -> None:
    (project / "recipes" / "alpha" / "build.sh").write_text(
        '#!/bin/bash\necho "alpha: PKGRUN-TEST-MARKER the compiler broke"\nexit 2\n'
    )
    code, report, err = nightly(project, build_env)
    assert code == 1, err
    builds = {b["recipe"]: b for b in report["builds"]}
    assert builds["alpha"]["status"] == "failed"
    assert "PKGRUN-TEST-MARKER the compiler broke" in builds["alpha"]["log_tail"]
    assert builds["beta"]["status"] == "blocked"
    assert builds["beta"]["reason"] == "needs alpha, which failed"
    assert builds["gamma"]["status"] == "built"  # the independent recipe was published
    published = sorted(p.name for p in (project / "repo" / "local" / "x86_64").glob("*.rpm"))
    assert published == ["gamma-1.0-1.local.noarch.rpm"]  # nothing of the failed recipe
    page = (project / "reports" / "latest" / "report.html").read_text()
    assert "PKGRUN-TEST-MARKER the compiler broke" in page
    suite = ElementTree.parse(project / "reports" / "latest" / "junit.xml").getroot()
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")


def test_a_bad_configuration_exits_2(project, build_env) -> None:
    (project / "pkgrun.toml").write_text('[nightly]\ntargets = ["el6"]\nkeep-report = 3\n')
    code, _, err = nightly(project, build_env)
    assert code == 2
    assert "pkgrun.toml: nightly.keep-report: unknown key 'keep-report' (did you mean 'keep-reports'?)" in err
