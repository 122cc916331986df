"""Every bad-input case is a small recipes directory under tests/bad_recipes/<case>/ with the
lines its error output must contain in expected.txt. `pkgrun check` must exit 2, name the file
and the field, and print no traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pkgrun.cli.main import main

CASES = Path(__file__).parent / "bad_recipes"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.txt").is_file())


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_recipe_is_refused_with_its_message(
    case: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    recipes = CASES / case

    code = main(["--recipes", str(recipes), "check"], env={"XDG_CACHE_HOME": str(tmp_path)})

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and "internal error" not in err
    problems = [line for line in err.splitlines() if line.startswith("error: ") and "problem" not in line]
    assert problems, err
    for line in problems:  # every problem names its file
        assert line.startswith(f"error: {recipes}/") and "recipe.toml: " in line, line
    for line in (recipes / "expected.txt").read_text().splitlines():
        if line.strip():
            assert line in err, f"expected in stderr: {line!r}\n--- stderr ---\n{err}"


def test_a_fifo_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a FIFO cannot live in git: made here. Opening it would block forever.
    demo = tmp_path / "recipes" / "demo"
    demo.mkdir(parents=True)
    os.mkfifo(demo / "recipe.toml")
    assert main(["--recipes", str(tmp_path / "recipes"), "check"], env={}) == 2
    assert "recipe.toml: is not a regular file (a device, FIFO or socket)" in capsys.readouterr().err


def test_all_problems_of_all_recipes_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two broken recipes side by side: one run reports both
    for case in ("version-dash", "sha256-short"):
        (tmp_path / case).mkdir()
        source = CASES / case / "demo" / "recipe.toml"
        text = source.read_text().replace('name = "demo"', f'name = "{case}"')
        (tmp_path / case / "recipe.toml").write_text(text)
    (tmp_path / "sha256-short" / "build.sh").write_text("make install\n")  # version-dash lacks its own

    code = main(["--recipes", str(tmp_path), "check"], env={})

    err = capsys.readouterr().err
    assert code == 2
    assert "version '1.0-1' contains '-'" in err
    assert "must be 64 hex digits" in err
    assert "version-dash/recipe.toml: build.script: build.sh does not exist" in err  # with the others
    assert "3 problems in 2 recipe files" in err


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(Exception) as info:
        main(["--recipes", str(CASES / "version-dash"), "--debug", "check"], env={})
    assert "contains '-'" in str(info.value.problems[0])  # type: ignore[attr-defined]


def test_a_fifo_in_the_recipe_directory_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "recipes" / "demo"
    shutil.copytree(CASES / "version-dash" / "demo", demo)
    (demo / "recipe.toml").write_text((demo / "recipe.toml").read_text().replace("1.0-1", "1.0"))
    (demo / "build.sh").write_text("make install\n")
    os.mkfifo(demo / "pipe")
    assert main(["--recipes", str(tmp_path / "recipes"), "check"], env={}) == 2
    assert "pipe in the recipe directory is not a file, a directory or a symlink" in capsys.readouterr().err


def test_a_symlink_loop_in_the_recipes_directory_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipes = tmp_path / "recipes"
    shutil.copytree(CASES.parent / "recipes" / "good" / "hello", recipes / "hello")
    (recipes / "a").symlink_to("b")
    (recipes / "b").symlink_to("a")
    (recipes / "gone").symlink_to(tmp_path / "removed")
    assert main(["--recipes", str(recipes), "check"], env={"XDG_CACHE_HOME": str(tmp_path)}) == 2
    err = capsys.readouterr().err
    for name in ("a", "b", "gone"):
        assert f"error: {recipes / name}: this link in the recipes directory leads nowhere" in err


def test_a_recipes_directory_holding_no_recipe_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "README").write_text("notes\n")
    for command in ("check", "list"):
        assert main(["--recipes", str(tmp_path / "recipes"), command], env={}) == 2
        assert f"the recipes directory {tmp_path / 'recipes'} holds no recipe" in capsys.readouterr().err


def test_one_script_for_two_hooks_reports_each_finding_once_per_hook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the README's libgreet runs ldconfig.sh after install and after removal."""
    recipes = tmp_path / "recipes"
    shutil.copytree(CASES / "hook-bash-syntax", recipes)
    toml = recipes / "demo" / "recipe.toml"
    toml.write_text(toml.read_text() + 'after-remove = "after_install.sh"\n')

    code = main(["--recipes", str(recipes), "check"], env={"XDG_CACHE_HOME": str(tmp_path / "cache")})

    err = capsys.readouterr().err
    assert code == 2
    for hook in ("after-install", "after-remove"):
        assert err.count(f"hooks.{hook}: after_install.sh: shellcheck line 2: SC3010") == 1, err
    assert "error: 2 problems in 1 recipe file" in err
