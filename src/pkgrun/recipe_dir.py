"""Recipes on disk: find them in a directory, read their TOML, check the files they point at.

``parse_recipe`` (pure) validates the data; this module does the IO around it and gathers the
problems of every recipe asked for, so one run reports all of them.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pkgrun.errors import Problem, RecipeError, UsageError
from pkgrun.recipe import Recipe, parse_recipe
from pkgrun.run import run

RECIPE_FILE = "recipe.toml"

# Hooks become RPM scriptlets, which rpm runs with /bin/sh; the build script runs with bash.
_SYNTAX_CHECKERS = {"hooks": "sh", "build": "bash"}


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    directory: Path

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def file(self) -> Path:
        return self.directory / RECIPE_FILE


def find_recipes(recipes_dir: Path) -> dict[str, Path]:
    """Recipe name (its directory's name) -> directory, for every ``*/recipe.toml``."""
    if not recipes_dir.is_dir():
        raise UsageError(
            f"recipes directory {recipes_dir} does not exist",
            hint="pass --recipes DIR or set PKGRUN_RECIPES, or run pkgrun from the project's top level",
        )
    return {f.parent.name: f.parent for f in sorted(recipes_dir.glob(f"*/{RECIPE_FILE}"))}


def load_recipes(recipes_dir: Path, names: Sequence[str] = ()) -> list[LoadedRecipe]:
    """Load the named recipes (all when none is named). Every problem of every recipe is
    gathered into one RecipeError."""
    found = find_recipes(recipes_dir)
    for name in names:
        if name not in found:
            close = difflib.get_close_matches(name, list(found), n=1)
            raise UsageError(
                f"no recipe {name!r} in {recipes_dir}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"known recipes: {', '.join(found) or 'none'}; "
                f"a recipe is a directory holding {RECIPE_FILE}",
            )
    loaded: list[LoadedRecipe] = []
    problems: list[Problem] = []
    for name in names or list(found):
        try:
            loaded.append(load_recipe(found[name]))
        except RecipeError as exc:
            problems += exc.problems
    problems += _unknown_recipe_dependencies(loaded, found)
    if problems:
        raise RecipeError(problems)
    return loaded


def _unknown_recipe_dependencies(loaded: Sequence[LoadedRecipe], found: dict[str, Path]) -> list[Problem]:
    problems = []
    for item in loaded:
        for index, name in enumerate(item.recipe.build.recipes):
            if name not in found:
                close = difflib.get_close_matches(name, list(found), n=1)
                problems.append(
                    Problem(
                        item.file,
                        f"build.recipes[{index}]",
                        f"no recipe {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                        f"known recipes: {', '.join(found)}",
                    )
                )
            elif name == item.name:
                problems.append(Problem(item.file, f"build.recipes[{index}]", "a recipe cannot need itself"))
    return problems


def load_recipe(directory: Path) -> LoadedRecipe:
    file = directory / RECIPE_FILE
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError([Problem(file, "", f"not valid TOML: {exc}")]) from None
    except OSError as exc:
        raise RecipeError([Problem(file, "", f"cannot be read: {exc.strerror}")]) from None
    recipe = parse_recipe(data, file)
    problems = check_recipe_files(recipe, directory)
    if problems:
        raise RecipeError(problems)
    return LoadedRecipe(recipe, directory)


def check_recipe_files(recipe: Recipe, directory: Path) -> list[Problem]:
    """Every file the recipe names exists inside its directory (symlinks included) and every
    script passes its shell's syntax check."""
    file = directory / RECIPE_FILE
    root = directory.resolve()
    problems = []
    for field, relative in recipe.recipe_paths():
        path = directory / relative
        if not path.resolve().is_relative_to(root):
            problems.append(
                Problem(
                    file,
                    field,
                    f"{relative} leads outside the recipe directory (a symlink?)",
                    "keep the recipe's files inside its directory; copy the file instead of linking it",
                )
            )
        elif not path.is_file():
            problems.append(
                Problem(
                    file,
                    field,
                    f"{relative} does not exist in {directory}",
                    "create the file or fix the path (relative to the recipe directory)",
                )
            )
        elif (shell := _SYNTAX_CHECKERS.get(field.split(".")[0])) is not None:
            result = run([shell, "-n", str(path)], check=False)
            if result.returncode != 0:
                error = (result.stderr or result.stdout).strip().replace(str(path), relative)
                problems.append(Problem(file, field, f"{relative} fails `{shell} -n`: {error}"))
    return problems
