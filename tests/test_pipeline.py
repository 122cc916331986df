"""The pipeline with a fake engine: every target's build runs the steps its plan lists, in the
plan's order, with the plan's packager; what is built is published with its inputs recorded; a
failure or Ctrl-C leaves no container, no RPM and nothing published.

Everything but the engine is real (nfpm, rpm, rpmlint, createrepo_c): see fake_engine.py.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import session_key
from pkgrun.build.plan import Step
from pkgrun.config.file import Config
from pkgrun.config.settings import Settings
from pkgrun.engine.container import Engine, EngineName
from pkgrun.install.install_test import _CHECKSIG
from pkgrun.pipeline.outcome import Mode, Request, Status
from pkgrun.pipeline.runner import run_builds
from pkgrun.recipe.directory import load_recipes
from pkgrun.repo.data import list_published, read_index
from pkgrun.report import NullReporter
from pkgrun.targets import TARGETS, Packager

TESTS = Path(__file__).resolve().parent
SOURCES = TESTS / "recipes" / "sources"
REQUIRED = os.environ.get("PKGRUN_REQUIRE_INTEGRATION") == "1"


@pytest.fixture(autouse=True)
def host_tools() -> None:
    """rpm reads every package back and rpmlint lints it: on the host, as in a real build."""
    for tool in ("rpm", "rpmlint", "gpg"):
        if shutil.which(tool) is None:
            if REQUIRED:
                pytest.fail(f"PKGRUN_REQUIRE_INTEGRATION=1 but {tool} is not installed")
            pytest.skip(f"{tool} is not installed")


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def settings_for(tmp_path: Path, scenario: str = "good", **changes: object) -> Settings:
    recipes = tmp_path / "recipes"
    if not recipes.exists():
        shutil.copytree(TESTS / "recipes" / scenario, recipes)
    base = Settings(
        recipes=recipes,
        config_file=tmp_path / "pkgrun.toml",
        config=Config(),
        repo=tmp_path / "repo",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        state_dir=tmp_path / "state",
        mirrors=(str(SOURCES),),
        cores=2,
        sign_key=session_key().fingerprint,
        gnupg_home=session_key().gnupg_home,
    )
    return base.but(**changes)


def build(settings: Settings, target: str = "local", mode: Mode = Mode.ALWAYS, **request: object):  # type: ignore[no-untyped-def]
    (hello,) = load_recipes(settings.recipes, ["hello"])
    requests = [Request(hello, TARGETS[target], mode, **request)]  # type: ignore[arg-type]
    return run_builds(requests, settings, Engine(EngineName.PODMAN), NullReporter(), session_key())


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_build_runs_the_plan_for_every_target(engine: FakeEngine, tmp_path: Path, target: str) -> None:
    from pkgrun.pipeline.jobs import plan_requests

    settings = settings_for(tmp_path)
    (hello,) = load_recipes(settings.recipes, ["hello"])
    plan = plan_requests([Request(hello, TARGETS[target], Mode.ALWAYS)], settings)[(target, "hello")]

    run = build(settings, target)

    (outcome,) = run.outcomes
    assert outcome.status is Status.BUILT, outcome.error
    assert outcome.result is not None
    assert list(outcome.result.steps) == plan.step_names  # the plan is what runs
    assert outcome.result.to_json()["packager"] == plan.packager.value == TARGETS[target].packager.value
    ran_fpm = any("exec" in argv and "fpm" in argv for argv in engine.calls)
    assert ran_fpm == (plan.packager is Packager.FPM)
    assert [p.nevra for p in list_published(settings.repo)] == [
        f"hello-0:1.0-4.{TARGETS[target].dist}.noarch"
    ]
    assert engine.containers == {}  # the build's and the install test's containers are gone


def test_steps_follow_the_options(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, lint=False, install_test=False, publish=False)
    (outcome,) = build(settings).outcomes
    assert outcome.result is not None
    assert Step.LINT not in outcome.result.steps and Step.INSTALL_TEST not in outcome.result.steps
    assert Step.PUBLISH not in outcome.result.steps
    assert (settings.out_dir / "hello-1.0-4.local.noarch.rpm").is_file()
    assert not settings.repo.exists()


def test_what_goes_into_the_container(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    runs = [argv for argv in engine.calls if "run" in argv and "--detach" in argv]
    assert all("--mount" not in run and "-v" not in run for run in runs)  # nothing of this host is mounted
    # the build script's container has no network (the look-up of the required names has)
    built_in = next(
        argv[argv.index("bash") - 1] for argv in engine.calls if "exec" in argv and "bash" in argv
    )
    (build_run,) = [run for run in runs if run[run.index("--name") + 1] == built_in]
    assert "--network=none" in build_run
    assert [run for run in runs if "--network=host" in run] == runs[:1]


def test_inputs_are_recorded_and_an_unchanged_recipe_is_skipped(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    index = read_index(settings.repo / "local")
    assert index["hello@1.0"]["nevra"] == "hello-0:1.0-4.local.noarch"
    started = len(engine.started())

    (again,) = build(settings, mode=Mode.IF_CHANGED).outcomes

    assert again.status is Status.SKIPPED and again.reason == "inputs unchanged"
    assert len(engine.started()) == started  # no container for a skipped build
    (settings.recipes / "hello" / "after_install.sh").write_text('echo "hello: changed ($1)"\n')
    (changed,) = build(settings, mode=Mode.IF_CHANGED).outcomes
    assert changed.status is Status.BUILT
    assert changed.reason.startswith("changed: after_install.sh changed; compile reused (key ")
    assert changed.nevra == "hello-0:1.0-4.1.local.noarch"  # a new release, not a clash


def test_a_failing_build_leaves_nothing(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine.fail = lambda argv: 1 if "bash" in argv else None
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.FAILED
    assert outcome.error == "build.sh failed (exit status 1)"
    assert outcome.log is not None and "the fake engine was told to fail here" in outcome.log.read_text()
    assert engine.containers == {} and engine.removed
    assert list(settings.out_dir.glob("*")) == []
    assert not settings.repo.exists()


def test_ctrl_c_during_a_build_removes_its_container(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine.fail = lambda argv: KeyboardInterrupt() if "bash" in argv else None
    with pytest.raises(KeyboardInterrupt):
        build(settings)
    # the build's container, and before it the look-up's and the one listing the directories
    # of the runtime image with the requirements: every one started is gone
    assert engine.containers == {} and sorted(engine.removed) == sorted(engine.started())
    assert [name.rsplit("-", 1)[0] for name in engine.started()] == [
        "pkgrun-hello",
        "pkgrun-hello-dirs",
        "pkgrun-hello",
    ]
    assert list(settings.out_dir.glob("*")) == []


def test_a_tampered_package_is_refused(engine: FakeEngine, tmp_path: Path) -> None:
    # whatever the build script does to the container, the package must be what was staged
    settings = settings_for(tmp_path)
    real_nfpm = engine._nfpm

    def with_extra_file(root, command, inside):  # type: ignore[no-untyped-def]
        config_path = Path(inside(command[command.index("--config") + 1]))
        config = json.loads(config_path.read_text())
        a_file = next(c for c in config["contents"] if c.get("type") == "")
        config["contents"].append({**a_file, "dst": "/usr/bin/sneaky"})
        config_path.write_text(json.dumps(config))
        return real_nfpm(root, command, inside)

    engine._nfpm = with_extra_file  # type: ignore[method-assign]
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.FAILED
    assert "in the package but never staged: /usr/bin/sneaky" in (outcome.error or "")


def test_what_a_recipe_requires_is_built_first_and_installed_beside_it(
    engine: FakeEngine, tmp_path: Path
) -> None:
    from pkgrun.pipeline.scheduler import needed

    settings = settings_for(tmp_path)
    world = settings.recipes / "world"
    shutil.copytree(settings.recipes / "hello", world)
    text = (world / "recipe.toml").read_text().replace('name = "hello"', 'name = "world"')
    (world / "recipe.toml").write_text(
        text.replace("[requires]\n", '[requires]\nrecipes = ["hello >= 1.0"]\n')
    )
    recipes = {item.name: item for item in load_recipes(settings.recipes)}
    assert needed(recipes, ["world"]) == ["hello", "world"]
    requests = [
        Request(recipes["hello"], TARGETS["local"], Mode.IF_MISSING),
        Request(recipes["world"], TARGETS["local"], Mode.ALWAYS),
    ]

    run = run_builds(requests, settings, Engine(EngineName.PODMAN), NullReporter(), session_key())

    assert [(o.recipe, o.status, o.reason) for o in run.outcomes] == [
        ("hello", Status.BUILT, "needed, and not published"),
        ("world", Status.BUILT, "named on the command line"),
    ]
    world_result = run.outcomes[1].result
    assert world_result is not None and "hello >= 1.0" in world_result.info.requires
    # installed by name, hello offered beside it (and checked by rpm without --nodeps)
    installs = [argv for argv in engine.calls if "exec" in argv and "dnf" in argv and "install" in argv]
    assert installs[-1][-3:] == ["install", "-y", "world"]
    checked = next(argv for argv in reversed(engine.calls) if "exec" in argv and _CHECKSIG in argv)
    assert {
        "/pkgrun/repos/pkgrun-new/world-1.0-4.local.noarch.rpm",
        "/pkgrun/repos/pkgrun-new/hello-1.0-4.local.noarch.rpm",
    } <= set(checked)
    # published now: the next run takes hello from the repository
    (again_hello, again_world) = run_builds(
        requests, settings.but(force=True), Engine(EngineName.PODMAN), NullReporter(), session_key()
    ).outcomes
    assert again_hello.status is Status.SKIPPED
    assert again_hello.reason == "needed by a named recipe: hello-1.0-4.local.noarch.rpm is published"
    assert again_world.status is Status.BUILT


def test_a_run_reads_what_is_published_once_and_again_only_after_its_own_publishes(
    engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pkgrun.repo.data

    settings = settings_for(tmp_path)
    world = settings.recipes / "world"
    shutil.copytree(settings.recipes / "hello", world)
    text = (world / "recipe.toml").read_text().replace('name = "hello"', 'name = "world"')
    (world / "recipe.toml").write_text(text.replace("[requires]\n", '[requires]\nrecipes = ["hello"]\n'))
    recipes = {item.name: item for item in load_recipes(settings.recipes)}
    requests = [
        Request(recipes["hello"], TARGETS["local"], Mode.IF_MISSING),
        Request(recipes["world"], TARGETS["local"], Mode.ALWAYS),
    ]
    reads: list[str] = []
    read_dist = pkgrun.repo.data.read_dist
    monkeypatch.setattr(
        pkgrun.repo.data, "read_dist", lambda root, dist: reads.append(dist) or read_dist(root, dist)
    )

    run = run_builds(requests, settings, Engine(EngineName.PODMAN), NullReporter(), session_key())

    assert [o.status for o in run.outcomes] == [Status.BUILT, Status.BUILT]
    # once for the run's decisions, plans and builds (the install tests' previous releases and
    # providers, the name look-ups), then once after each of its two publishes
    assert reads == ["local"] * 3
