"""rpmlint's findings as pkgrun reports them: only what fails the build is called an error,
a recipe leaves a check out with a reason ([lint] ignore), and pkgrun's own signing key is
never a finding (pkgrun checks the signature against it itself)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import make_rpm, require_tools
from pkgrun.build import lint
from pkgrun.build.lint import grouped, lint_rpm
from pkgrun.cli.main import main

RECIPES_GOOD = Path(__file__).parent / "recipes" / "good"


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
    result = lint_rpm(Path("demo.rpm"), [], key_ids={"f6f5030f306c6bae"})
    assert [str(f) for f in result.findings] == ["unknown-key (MD5 SHA1) RSA#deadbeef", "no-documentation"]
    assert result.ignored == 0  # not the recipe's doing: not counted as [lint] ignore


def test_ignoring_a_check_that_fails_by_default_is_no_conflict_and_local_in_a_hook_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[lint] ignore may name a check of the default fail list (the recipe wrote no fail list);
    `local` in a hook is no bash-ism (dash and busybox sh run it), unlike `[[ ]]`."""
    recipes = tmp_path / "recipes"
    shutil.copytree(RECIPES_GOOD / "hello", recipes / "hello")
    recipe = recipes / "hello" / "recipe.toml"
    recipe.write_text(recipe.read_text() + '\n[lint]\nignore = { "dangling-symlink" = "a link to /run" }\n')
    (recipes / "hello" / "after_install.sh").write_text(
        'greet() {\n  local who="$1"\n  echo "hello $who"\n}\ngreet "$1"\n'
    )
    assert main(["--recipes", str(recipes), "check"], env={"XDG_CACHE_HOME": str(tmp_path)}) == 0, (
        capsys.readouterr().err
    )
