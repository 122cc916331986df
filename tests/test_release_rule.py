"""One rule for a build whose NEVRA is published already, the same in `pkgrun build` and the
nightly job, decided before any work: a packaging-only change built again with `pkgrun build`
takes the next free release (and says so first); a rebuild that changes nothing is not published
again; an iteration the user named that is published is refused before any container starts,
naming the recipe's line; `pkgrun plan` and `pkgrun list` show the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import state_env
from pkgrun.cli.main import main
from pkgrun.pipeline.decide import ReleaseTaken
from pkgrun.pipeline.outcome import Mode, Status
from pkgrun.repo.data import list_published
from test_pipeline import build, settings_for

pytestmark = pytest.mark.usefixtures("pipeline_tools")


def published(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.nevra for p in list_published(settings.repo)]


def test_a_packaging_only_change_built_again_takes_the_next_free_release(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    recipe = settings.recipes / "hello" / "recipe.toml"  # the line is named, not its comment
    recipe.write_text(recipe.read_text().replace("iteration = 4\n", "iteration = 4  # 4.el7 on el7\n"))
    (first,) = build(settings).outcomes
    assert first.status is Status.BUILT and first.nevra == "hello-0:1.0-4.local.noarch"
    (settings.recipes / "hello" / "after_install.sh").write_text('echo "hello: changed ($1)"\n')
    (again,) = build(settings).outcomes
    assert again.status is Status.BUILT, again.error
    assert again.nevra == "hello-0:1.0-4.1.local.noarch"
    assert (
        "hello-1.0-4.local is published already: this build is 4.1.local, the next free release"
        in again.reason
    )
    assert f'raise iteration = 4 in {recipe}:5 to "4.1" or higher;' in again.reason
    assert published(settings) == ["hello-0:1.0-4.1.local.noarch", "hello-0:1.0-4.local.noarch"]
    # once more: the next free one is 4.2, and the line to raise says so (not 4.1, which is taken)
    (settings.recipes / "hello" / "after_install.sh").write_text('echo "hello: changed again ($1)"\n')
    (third,) = build(settings).outcomes
    assert third.nevra == "hello-0:1.0-4.2.local.noarch"
    assert f'raise iteration = 4 in {recipe}:5 to "4.2" or higher;' in third.reason


def test_the_same_build_again_is_not_published_again(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    (again,) = build(settings).outcomes
    assert again.status is Status.IDENTICAL, again.error
    assert again.nevra == "hello-0:1.0-4.local.noarch"
    assert published(settings) == ["hello-0:1.0-4.local.noarch"]


def test_a_named_iteration_that_is_published_is_refused_before_any_work(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    calls = len(engine.calls)
    with pytest.raises(ReleaseTaken) as refused:
        build(settings, iteration="4")
    assert len(engine.calls) == calls  # no image, no container
    assert refused.value.message == (
        "hello-1.0-4.local is published already, and --iteration 4 names it: "
        "a published release never changes"
    )
    assert "the next free release, 4.1" in str(refused.value.hint)
    recipe = settings.recipes / "hello" / "recipe.toml"
    assert f'raise iteration = 4 in {recipe}:5 to "4.1" or higher' in str(refused.value.hint)


def test_force_keeps_the_release_and_replaces_the_package(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    (settings.recipes / "hello" / "after_install.sh").write_text('echo "hello: changed ($1)"\n')
    (again,) = build(settings.but(force=True), iteration="4").outcomes
    assert again.status is Status.BUILT, again.error
    assert again.nevra == "hello-0:1.0-4.local.noarch"
    assert [p.action for p in again.published] == ["replaced"]


def test_the_nightly_job_follows_the_same_rule(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    (settings.recipes / "hello" / "after_install.sh").write_text('echo "hello: changed ($1)"\n')
    (nightly,) = build(settings, mode=Mode.IF_CHANGED).outcomes
    assert nightly.nevra == "hello-0:1.0-4.1.local.noarch"


def test_plan_and_list_show_the_release_a_build_takes(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    common = ["--recipes", str(settings.recipes)]
    where = ["--repo", str(settings.repo), "--target", "local"]
    env = {**state_env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    capsys.readouterr()
    assert main([*common, "plan", "hello", *where, "--json"], env=env) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["nevra"] == "hello-0:1.0-4.1.local.noarch"
    assert plan["release"].startswith("hello-1.0-4.local is published already: this build is 4.1.local")
    assert main([*common, "plan", "hello", *where, "--iteration", "4"], env=env) == 2
    assert "--iteration 4 names it" in capsys.readouterr().err
    # the plan of a build with --force is that build's: the release kept, the package replaced
    assert main([*common, "plan", "hello", *where, "--iteration", "4", "--force", "--json"], env=env) == 0
    forced = json.loads(capsys.readouterr().out)
    assert forced["nevra"] == "hello-0:1.0-4.local.noarch" and "--force replaces it" in forced["release"]
    assert main([*common, "list", *where, "--json"], env=env) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["iteration"], row["published"]) == ("4", "1.0-4.local")


def test_a_new_iteration_named_on_the_command_line_is_published_even_if_nothing_changed(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    build(settings)
    (again,) = build(settings, iteration="5").outcomes
    assert again.status is Status.BUILT, again.error
    assert [p.nevra for p in again.published] == ["hello-0:1.0-5.local.noarch"]


def test_a_build_after_retention_pruned_the_recipe_s_release_orders_after_what_is_left(
    engine: FakeEngine, tmp_path: Path
) -> None:
    """4, 4.1 and 4.2 published with keep 2 leave 4.1 and 4.2: the next changed build is 4.3, not
    4 again (which rpm orders below both, so no server would take it)."""
    settings = settings_for(tmp_path, keep=2)
    hook = settings.recipes / "hello" / "after_install.sh"
    for n in range(3):
        hook.write_text(f'echo "hello: change {n} ($1)"\n')
        build(settings)
    assert published(settings) == ["hello-0:1.0-4.1.local.noarch", "hello-0:1.0-4.2.local.noarch"]
    hook.write_text('echo "hello: change 3 ($1)"\n')
    (latest,) = build(settings).outcomes
    assert latest.nevra == "hello-0:1.0-4.3.local.noarch"
    assert "a later release of hello-1.0-4.local is published already" in latest.reason
    with pytest.raises(ReleaseTaken):
        build(settings, iteration="4")


def test_publish_takes_the_target_from_the_dist_tag_and_refuses_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import make_rpm

    (tmp_path / "pkgrun.toml").write_text('[nightly]\ntargets = ["el9", "el7"]\n')
    rpm = make_rpm(tmp_path / "rpms", "tool", release="1.local", arch="noarch")
    common = [
        "--config",
        str(tmp_path / "pkgrun.toml"),
        "publish",
        "--unsigned",
        "--repo",
        str(tmp_path / "repo"),
    ]
    assert main([*common, "--target", "el9", str(rpm)], env=state_env()) == 2
    assert "built for local (its dist tag), not for el9" in capsys.readouterr().err
    assert not (tmp_path / "repo" / "el9").exists()
    assert main([*common, str(rpm)], env=state_env()) == 0  # .local: the local target
    assert [p.dist for p in list_published(tmp_path / "repo")] == ["local"]
