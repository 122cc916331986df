"""Every bad-input case is a small recipe under tests/bad_recipes/<case>/ with the lines its
error output must contain in expected.txt. `pkgrun check` must exit 2, name the file and the
field, and print no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pkgrun.cli import main

CASES = Path(__file__).parent / "bad_recipes"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.txt").is_file())


def test_there_are_enough_cases() -> None:
    assert len(CASE_NAMES) >= 15


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_recipe_is_refused_with_its_message(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    recipes = CASES / case
    (recipe_dir,) = [p for p in recipes.iterdir() if p.is_dir()]

    code = main(["--recipes", str(recipes), "check"], env={})

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert f"{recipe_dir / 'recipe.toml'}: " in err  # the file is named
    for line in (recipes / "expected.txt").read_text().splitlines():
        if line.strip():
            assert line in err, f"expected in stderr: {line!r}\n--- stderr ---\n{err}"


def test_all_problems_of_all_recipes_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two broken recipes side by side: one run reports both
    for case in ("version-dash", "sha256-short"):
        (tmp_path / case).mkdir()
        source = CASES / case / "demo" / "recipe.toml"
        text = source.read_text().replace('name = "demo"', f'name = "{case}"')
        (tmp_path / case / "recipe.toml").write_text(text)

    code = main(["--recipes", str(tmp_path), "check"], env={})

    err = capsys.readouterr().err
    assert code == 2
    assert "version '1.0-1' contains '-'" in err
    assert "must be 64 hex digits" in err
    assert "2 problems in 2 recipe files" in err


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(Exception) as info:
        main(["--recipes", str(CASES / "version-dash"), "--debug", "check"], env={})
    assert "contains '-'" in str(info.value.problems[0])  # type: ignore[attr-defined]
