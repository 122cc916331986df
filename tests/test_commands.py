"""The commands that build, end to end through the command line, with the fake engine (see
fake_engine.py): `pkgrun build`, `pkgrun nightly` twice, `pkgrun plan --nightly`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import key_vars
from pkgrun.cli.main import main
from test_pipeline import SOURCES, TESTS, host_tools  # noqa: F401  (the fixture)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(TESTS / "recipes" / "good", tmp_path / "recipes")
    (tmp_path / "pkgrun.toml").write_text('[nightly]\ntargets = ["local", "el9"]\nkeep-reports = 2\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def env(project: Path) -> dict[str, str]:
    return {"HOME": str(project), "PKGRUN_MIRROR": str(SOURCES), "PKGRUN_ENGINE": "podman", **key_vars()}


def test_build_then_nightly_then_plan(
    engine: FakeEngine, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "hello", "--target", "local", "--json"], env=env(project)) == 0
    built = json.loads(capsys.readouterr().out)
    assert [p["nevra"] for p in built["published"]] == ["hello-0:1.0-4.local.noarch"]
    assert built["built"][0]["steps"][-1] == "publish"

    assert main(["nightly", "--json"], env=env(project)) == 0
    first = json.loads(capsys.readouterr().out)
    assert {(b["target"], b["status"], b["reason"]) for b in first["builds"]} == {
        ("local", "skipped", "inputs unchanged"),  # `pkgrun build` recorded what it built
        ("el9", "built", "never built for el9"),
    }
    started = len(engine.started())
    assert main(["nightly", "--json"], env=env(project)) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["counts"] == {"built": 0, "skipped": 2, "failed": 0, "blocked": 0, "identical": 0}
    assert len(engine.started()) == started  # no container
    assert (project / "reports" / "latest" / "report.html").is_file()

    calls = len(engine.calls)
    assert main(["plan", "hello", "--target", "local"], env=env(project)) == 0
    assert len(engine.calls) == calls  # plan asks the engine nothing
    assert main(["plan", "hello", "--target", "el9", "--nightly"], env=env(project)) == 0
    out = capsys.readouterr().out
    assert "nightly job  skip: inputs unchanged" in out
    assert "compile      reused (key " in out  # what el9's build compiled is kept
    (project / "recipes" / "hello" / "build.sh").write_text("true\n")
    assert main(["plan", "hello", "--target", "el9", "--nightly", "--json"], env=env(project)) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["nightly"] == "build: changed: build.sh changed"
    assert planned["compile"].startswith("from source, changed since the last kept compile: build.sh changed")


def test_a_failed_build_says_why_and_exits_1(
    engine: FakeEngine, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail = lambda argv: 3 if "bash" in argv else None
    assert main(["build", "hello", "--target", "local"], env=env(project)) == 1
    err = capsys.readouterr().err
    assert "error: hello: build.sh failed (exit status 3)" in err
    assert "the fake engine was told to fail here" in err and "full log: " in err


def test_list_and_plan_start_no_process(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pkgrun.run

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(pkgrun.run, "_command", no_process)
    for argv in (["list"], ["plan", "hello", "--target", "local"]):
        assert main(argv, env=env(project)) == 0, capsys.readouterr().err
    assert main(["plan", "hello", "--target", "el7", "--json"], env=env(project)) == 0
    out = capsys.readouterr().out
    plan = json.loads(out[out.index('{\n  "name"') :])
    assert plan["packager"] == "fpm" and plan["steps"][-1]["name"] == "publish"


def test_nightly_requests_and_what_it_would_do(engine: FakeEngine, project: Path) -> None:
    from pkgrun.config.settings import resolve
    from pkgrun.pipeline.jobs import plan_requests
    from pkgrun.pipeline.nightly import explain, nightly_requests
    from pkgrun.pipeline.outcome import Mode
    from pkgrun.recipe.directory import load_recipes
    from pkgrun.targets import TARGETS

    config = project / "pkgrun.toml"
    config.write_text('[nightly]\ntargets = ["local"]\n[nightly.versions.local]\nhello = "1.0"\n')
    settings = resolve({}, {**env(project), "PKGRUN_CONFIG": str(config)})
    recipes = load_recipes(settings.recipes)
    requests = nightly_requests(recipes, [TARGETS["local"], TARGETS["el8"]], settings)
    assert [(r.target.name, r.loaded.name, r.mode, r.version) for r in requests] == [
        ("local", "hello", Mode.IF_CHANGED, "1.0"),
        ("el8", "hello", Mode.IF_CHANGED, None),
    ]
    plan = plan_requests(requests, settings)[("local", "hello")]
    decision = explain(plan, settings.repo)
    assert (decision.build, decision.reason) == (True, "never built for local")


def test_a_build_that_publishes_nothing_needs_no_key(
    engine: FakeEngine, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = {"HOME": str(project), "PKGRUN_MIRROR": str(SOURCES), "PKGRUN_ENGINE": "podman"}
    assert main(["build", "hello", "--target", "local", "--no-publish", "--json"], env=bare) == 0
    out, err = capsys.readouterr()
    assert "no signing key: the RPMs left in the output directory are unsigned" in err
    assert "sign" not in json.loads(out)["built"][0]["steps"]
    assert main(["build", "hello", "--target", "local", "--json"], env=bare) == 2  # publishing does
    assert "no signing key" in capsys.readouterr().err


def test_an_engine_that_does_not_answer_stops_the_nightly_before_any_work(
    engine: FakeEngine, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail = lambda argv: 125 if "version" in argv else None
    assert main(["nightly"], env=env(project)) == 1
    err = capsys.readouterr().err
    assert "podman does not answer: the fake engine was told to fail here" in err
    assert "start the engine" in err
    assert [argv for argv in engine.calls if "version" not in argv] == []  # one call, and no other


def test_without_target_the_configured_targets_are_the_default(
    engine: FakeEngine, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pkgrun.toml names local and el9: `pkgrun build` builds for both, `plan` and `list` take
    the first, and `repo list --target` shows one target's packages."""
    assert main(["build", "hello", "--json"], env=env(project)) == 0
    built = json.loads(capsys.readouterr().out)
    assert sorted(p["nevra"] for p in built["published"]) == [
        "hello-0:1.0-4.el9.noarch",
        "hello-0:1.0-4.local.noarch",
    ]
    assert main(["plan", "hello", "--json"], env=env(project)) == 0
    assert json.loads(capsys.readouterr().out)["nevra"] == "hello-0:1.0-4.1.local.noarch"
    assert main(["repo", "list", "--target", "el9", "--json"], env=env(project)) == 0
    assert [row["nevra"] for row in json.loads(capsys.readouterr().out)] == ["hello-0:1.0-4.el9.noarch"]
    assert main(["list", "--json"], env=env(project)) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["target"], row["published"]) == ("local", "1.0-4.local")
