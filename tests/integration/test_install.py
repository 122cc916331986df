"""Install tests: install, upgrade, test commands and removal in a fresh container block a
broken package from being published."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TEST_RECIPES, hello_build
from pkgrun.cli.main import main


def build(scenario: str, tmp_path: Path, env: dict[str, str], engine: str, *extra: str) -> list[str]:
    repo = str(tmp_path / "repo")
    return hello_build(TEST_RECIPES / scenario, tmp_path / "out", "--engine", engine, "--repo", repo, *extra)


def test_install_upgrade_remove_then_publish(
    podman, build_env, tmp_path, capsys, no_leftover_containers
) -> None:
    assert main([*build("good", tmp_path, build_env, podman), "--json"], env=build_env) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["built"][0]["install_test"] == {
        "steps": [
            "list the file system",
            "tell rpm what the image provides",
            "import the signing key",
            "verify the signatures",
            "install hello by name from pkgrun's repositories, the image's repositories enabled",
            "every library is found",
            "test: hello tests | grep -q 'hello from pkgrun tests'",
            "test: test -L /usr/bin/hi",
            "remove",
            "nothing left behind",
        ],
        "upgraded_from": None,
        "competitors": [],  # Debian's repositories offer no RPMs
    }
    assert not any("no-signature" in f for f in first["built"][0]["rpmlint"])  # signed before the test
    assert [p["nevra"] for p in first["published"]] == ["hello-0:1.0-4.local.noarch"]

    assert (
        main([*build("good", tmp_path, build_env, podman, "--iteration", "5"), "--json"], env=build_env) == 0
    )
    second = json.loads(capsys.readouterr().out)["built"][0]["install_test"]
    assert second["upgraded_from"] == "hello-1.0-4.local.noarch.rpm"
    steps = second["steps"]
    installs = [step for step in steps if " by name " in step]
    assert installs == [
        "install hello by name from the published release's repository, the image's repositories enabled",
        "upgrade hello by name from pkgrun's repositories, the image's repositories enabled",
    ]
    log = sorted((tmp_path / "state" / "pkgrun" / "logs").glob("hello-1.0-5.local-*.log"))[-1].read_text()
    assert "hello: after install (2)" in log  # the hook saw an upgrade (rpm's count 2)


def test_a_failing_hook_blocks_the_publish(
    podman, build_env, tmp_path, capsys, no_leftover_containers
) -> None:
    code = main(build("badhook", tmp_path, build_env, podman), env=build_env)
    err = capsys.readouterr().err
    assert code == 1
    assert "install test of hello failed at 'install hello by name from pkgrun's repositories" in err
    assert (
        "dnf --setopt=best=True --releasever=12 install -y hello" in err
    )  # by name, every requirement checked
    assert "hello: after install fails on purpose" in err  # the command's output
    assert "%post" in err and "scriptlet failed" in err
    assert not (tmp_path / "repo").exists() or not list((tmp_path / "repo").rglob("*.rpm"))
    assert not list((tmp_path / "out").glob("*.rpm"))


def test_files_left_after_removal_fail_the_test(podman, build_env, tmp_path, capsys) -> None:
    code = main(build("leftover", tmp_path, build_env, podman), env=build_env)
    err = capsys.readouterr().err
    assert code == 1
    assert "failed at 'nothing left behind'" in err
    assert "/usr/share/hello" in err
    assert not list((tmp_path / "out").glob("*.rpm"))


def test_lint_checks_named_by_the_recipe_fail_the_build(podman, build_env, tmp_path, capsys) -> None:
    recipes = tmp_path / "recipes"
    (recipes / "hello").mkdir(parents=True)
    for item in (TEST_RECIPES / "good" / "hello").iterdir():
        (recipes / "hello" / item.name).write_bytes(item.read_bytes())
    recipe = recipes / "hello" / "recipe.toml"
    recipe.write_text(recipe.read_text() + '\n[lint]\nfail = ["no-manual-page-for-binary"]\n')
    code = main(hello_build(recipes, tmp_path / "out", "--engine", podman, "--no-publish"), env=build_env)
    err = capsys.readouterr().err
    assert code == 1
    assert "rpmlint: 2 finding(s) of checks that fail the build: no-manual-page-for-binary hello" in err
    assert not list((tmp_path / "out").glob("*.rpm"))
