"""Recipes on disk: find them in a directory, read their TOML, check the files they point at.

``validate_recipe`` (pure) validates the data; this module does the IO around it and gathers the
problems of every recipe asked for, so one run reports all of them. Reading never trusts the
file system: a recipe file may be binary, huge, a FIFO, a directory or a symlink loop, and a
recipe directory may hold links that lead out of it. Each of these is a Problem naming the
file, never an internal error.
"""

from __future__ import annotations

import difflib
import graphlib
import itertools
import os
import posixpath
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from pkgrun.archive import walk
from pkgrun.errors import Problem, RecipeError, UsageError
from pkgrun.recipe.model import RECIPE_FILE, LoadedRecipe, raw_recipe_paths, validate_recipe
from pkgrun.recipe.script_lint import Finding, check_scripts
from pkgrun.recipe.tomlfile import read_toml

# A script (hook, build script) larger than this is refused: hooks become RPM headers.
MAX_SCRIPT_BYTES = 1 << 20

# Hooks become RPM scriptlets, which rpm runs with /bin/sh; the build script runs with bash.
_SHELLS = {"hooks": "sh", "build": "bash"}


def find_recipes(recipes_dir: Path) -> dict[str, Path]:
    """Recipe name (its directory's name) -> directory, for every ``*/recipe.toml``."""
    if not recipes_dir.is_dir():
        what = "is not a directory" if recipes_dir.exists() else "does not exist"
        raise UsageError(
            f"recipes directory {recipes_dir} {what}",
            hint="pass --recipes DIR or set PKGRUN_RECIPES, or run pkgrun from the project's top level",
        )
    return {
        d.name: d
        for d in _folders(recipes_dir)
        if (d / RECIPE_FILE).exists() or (d / RECIPE_FILE).is_symlink()
    }


def _folders(recipes_dir: Path) -> list[Path]:
    """The recipes directory's visible subdirectories (a hidden one, such as .git, is not a recipe)."""
    try:
        entries = sorted(recipes_dir.iterdir())
    except OSError as exc:
        raise UsageError(f"recipes directory {recipes_dir} cannot be read: {exc.strerror}") from None
    return [e for e in entries if not e.name.startswith(".") and e.is_dir()]


def stray_folders(recipes_dir: Path) -> list[Problem]:
    """Folders of the recipes directory that hold no recipe.toml, and links there that lead
    nowhere (a loop, a removed target): a typo must not pass silently."""
    problems = [
        Problem(
            entry,
            "",
            "this link in the recipes directory leads nowhere (a symlink loop, or its target is gone)",
            "remove it, or point it at a recipe folder",
        )
        for entry in sorted(recipes_dir.iterdir())
        if not entry.name.startswith(".") and entry.is_symlink() and not entry.exists()
    ]
    for folder in _folders(recipes_dir):
        file = folder / RECIPE_FILE
        if file.exists() or file.is_symlink():
            continue
        try:
            names = sorted(p.name for p in folder.iterdir() if p.is_file())
        except OSError:
            names = []
        close = difflib.get_close_matches(RECIPE_FILE, names, n=1, cutoff=0.7)
        problems.append(
            Problem(
                file,
                "",
                "this folder of the recipes directory holds no recipe.toml"
                + (f" (found {close[0]!r}: a typo?)" if close else ""),
                f"rename {close[0]} to {RECIPE_FILE}"
                if close
                else "add a recipe.toml, or move the folder out "
                "of the recipes directory (folders whose name starts with '.' are ignored)",
            )
        )
    return problems


def load_recipes(
    recipes_dir: Path, names: Sequence[str] = (), *, cache_dir: Path | None = None, scripts: bool = True
) -> list[LoadedRecipe]:
    """Load the named recipes (all when none is named). Every problem of every recipe is
    gathered into one RecipeError. ``cache_dir``: where script checks are cached; ``scripts``:
    whether to check the scripts with their shell and shellcheck (processes), or only read them."""
    found = find_recipes(recipes_dir)
    for name in names:
        if name not in found:
            close = difflib.get_close_matches(name, list(found), n=1)
            stray = (recipes_dir / name).is_dir()
            raise UsageError(
                f"no recipe {name!r} in {recipes_dir}"
                + (f": {recipes_dir / name} holds no {RECIPE_FILE}" if stray else "")
                + (f" (did you mean {close[0]!r}?)" if close and not stray else ""),
                hint=f"known recipes: {', '.join(found) or 'none'}; "
                f"a recipe is a directory holding {RECIPE_FILE}",
            )
    loaded: list[LoadedRecipe] = []
    problems: list[Problem] = [] if names else stray_folders(recipes_dir)
    for name in names or list(found):
        try:
            loaded.append(load_recipe(found[name], cache_dir=cache_dir, scripts=scripts))
        except RecipeError as exc:
            problems += exc.problems
    if not names and not found and not problems:
        raise UsageError(
            f"the recipes directory {recipes_dir} holds no recipe",
            hint=f"a recipe is a folder holding {RECIPE_FILE} (recipes/NAME/{RECIPE_FILE}; the recipe "
            "reference, docs/recipes.md, says what goes in it); or pass --recipes DIR",
        )
    problems += _unknown_recipe_dependencies(loaded, found)
    if not problems:
        problems += recipe_cycles(loaded)
    if problems:
        raise RecipeError(problems)
    return loaded


def _needed_recipes(item: LoadedRecipe) -> list[tuple[str, str]]:
    """(field, recipe name) of every recipe ``item`` needs: to build, and at run time."""
    out = [(f"build.recipes[{i}]", name) for i, name in enumerate(item.recipe.build.recipes)]
    out += [(f"requires.recipes[{i}]", name) for i, name in enumerate(item.recipe.recipe_requires)]
    return out


def _unknown_recipe_dependencies(loaded: Sequence[LoadedRecipe], found: Mapping[str, Path]) -> list[Problem]:
    problems = []
    for item in loaded:
        for where, name in _needed_recipes(item):
            if name not in found:
                close = difflib.get_close_matches(name, list(found), n=1)
                problems.append(
                    Problem(
                        item.file,
                        where,
                        f"no recipe {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                        f"known recipes: {', '.join(found)}",
                    )
                )
            elif name == item.name:
                problems.append(Problem(item.file, where, "a recipe cannot need itself"))
    return problems


def recipe_cycles(loaded: Sequence[LoadedRecipe]) -> list[Problem]:
    """A cycle among the recipes the loaded ones need (to build or at run time), as one Problem
    on each of its files: the recipes of a cycle could never be built or tested in an order."""
    by_name = {item.name: item for item in loaded}
    edges = {item.name: {name: where for where, name in _needed_recipes(item)} for item in loaded}
    graph = {name: {d for d in needs if d in by_name} for name, needs in edges.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]
        path = " -> ".join(cycle)
        return [
            Problem(
                by_name[name].file,
                edges[name][after],
                f"the recipes need each other in a cycle: {path}",
                "remove one of the entries of the cycle ([build] recipes or [requires] recipes)",
            )
            for name, after in itertools.pairwise(cycle)
        ]
    return []


def load_recipe(directory: Path, *, cache_dir: Path | None = None, scripts: bool = True) -> LoadedRecipe:
    file = directory / RECIPE_FILE
    if link_problem := _leads_out(file, directory):
        raise RecipeError([link_problem])
    data = read_toml(file, RecipeError, "recipe")
    recipe, problems = validate_recipe(data, file)
    # the files are checked even when the data has problems: every problem at once
    named = recipe.recipe_paths() if recipe else raw_recipe_paths(data)
    ignore = recipe.lint.shellcheck_ignore if recipe else []
    more, warnings = check_recipe_files(named, ignore, directory, cache_dir=cache_dir, scripts=scripts)
    problems += more
    if problems or recipe is None:
        raise RecipeError(problems)
    return LoadedRecipe(recipe, directory, tuple(warnings))


# a script that passed the file checks: (field, relative path, path, shell)
_Script = tuple[str, str, Path, str]


def check_recipe_files(
    paths: Sequence[tuple[str, str]],
    ignore: Sequence[str],
    directory: Path,
    *,
    cache_dir: Path | None = None,
    scripts: bool = True,
) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings). Every file the recipe names (``paths``: field, path) is a regular
    file inside its directory; no link in the directory leads out of it; every script is UTF-8,
    passes its shell's syntax check and shellcheck (errors are problems, the rest warnings;
    ``ignore``: shellcheck codes not reported)."""
    file = directory / RECIPE_FILE
    root = directory.resolve()
    named = dict(paths)
    problems = _unnamed_entry_problems(directory, {posixpath.normpath(p) for p in named.values()})
    checked: list[_Script] = []
    for name, relative in named.items():
        path = directory / relative
        info = _named_file_info(path, name, relative, directory, root)
        if isinstance(info, Problem):
            problems.append(info)
            continue
        shell = _SHELLS.get(name.split(".")[0])
        if shell is None:
            continue
        if problem := _script_problem(path, relative, info.st_size, file, name):
            problems.append(problem)
            continue
        checked.append((name, relative, path, shell))
    if not scripts:
        return problems, []
    failures, warnings = _script_check_problems(checked, ignore, cache_dir, file)
    return problems + failures, warnings


def _unnamed_entry_problems(directory: Path, named_paths: set[str]) -> list[Problem]:
    """The entries of the recipe directory the recipe does not name that are links leading out
    of it, or FIFOs, sockets or devices."""
    return [
        p
        for path in walk(directory)
        if path.relative_to(directory).as_posix() not in named_paths
        and (p := _leads_out(path, directory) or _not_a_plain_entry(path, directory))
    ]


def _named_file_info(
    path: Path, name: str, relative: str, directory: Path, root: Path
) -> os.stat_result | Problem:
    """The stat of a file the recipe names (field ``name``) when it is a regular file inside the
    recipe directory (``root``: the directory resolved), else the Problem that says why not."""
    file = directory / RECIPE_FILE
    if path.is_symlink() and not resolved_inside(path, root):
        return Problem(
            file,
            name,
            f"{relative} leads outside the recipe directory (a symlink to {os.readlink(path)})",
            "keep the recipe's files inside its directory; copy the file instead of linking it",
        )
    try:
        resolved = path.resolve(strict=False)
        info = path.stat()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop before 3.13
        message = getattr(exc, "strerror", None) or "a symlink loop"
        return Problem(
            file,
            name,
            f"{relative} does not exist in {directory}"
            if isinstance(exc, FileNotFoundError)
            else f"{relative} cannot be read: {message}",
            "create the file or fix the path (relative to the recipe directory)",
        )
    if not resolved.is_relative_to(root):
        return Problem(
            file,
            name,
            f"{relative} leads outside the recipe directory (through a symlink)",
            "keep the recipe's files inside its directory; copy the file instead of linking it",
        )
    if stat.S_ISDIR(info.st_mode):
        return Problem(file, name, f"{relative} is a directory; a file is expected here")
    if not stat.S_ISREG(info.st_mode):
        return Problem(file, name, f"{relative} is not a regular file (a FIFO, socket or device)")
    return info


def _script_check_problems(
    checked: Sequence[_Script], ignore: Sequence[str], cache_dir: Path | None, file: Path
) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of running each script's shell's syntax check and shellcheck."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    checks = check_scripts([(p, shell) for _, _, p, shell in checked], ignore, cache_dir)
    for name, relative, path, shell in checked:
        check = checks[path]
        if check.syntax_error:
            error = check.syntax_error.replace(str(path), relative)
            problems.append(Problem(file, name, f"{relative} fails `{shell} -n`: {error}"))
            continue
        for finding in check.findings:
            problem = Problem(file, name, f"{relative}: shellcheck {finding}", _shellcheck_hint(finding))
            (problems if finding.fails else warnings).append(problem)
    return problems, warnings


def _shellcheck_hint(finding: Finding) -> str:
    if finding.not_posix:
        return (
            "rpm runs hooks with /bin/sh, which is dash on Debian and busybox in small images: "
            "write POSIX sh, or run bash from the hook (bash -c '...'); "
            f'[lint] shellcheck-ignore = ["{finding.code}"] if every server\'s /bin/sh has it'
        )
    return (
        f"see https://www.shellcheck.net/wiki/{finding.code}; silence it with "
        f'[lint] shellcheck-ignore = ["{finding.code}"] if it is intended'
    )


def _script_problem(path: Path, relative: str, size: int, file: Path, name: str) -> Problem | None:
    """A script is at most MAX_SCRIPT_BYTES of text (read only when its size is allowed)."""
    if size > MAX_SCRIPT_BYTES:
        return Problem(file, name, f"{relative} is {size} bytes; a script may hold {MAX_SCRIPT_BYTES}")
    return _script_text_problem(path, relative, file, name)


def _script_text_problem(path: Path, relative: str, file: Path, name: str) -> Problem | None:
    """A script must be UTF-8 text without NUL bytes: it becomes an RPM header or runs in bash."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Problem(file, name, f"{relative} cannot be read: {exc.strerror}")
    if b"\0" in raw:
        return Problem(file, name, f"{relative} holds NUL bytes: a script must be text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(
            file, name, f"{relative} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        )
    if name.startswith("hooks."):
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("%"):
                return Problem(
                    file,
                    name,
                    f"{relative}: line {number} starts with '%', which rpmbuild would read as a spec "
                    "section or macro",
                    "a hook is shell code: move the '%' off the start of the line",
                )
    return None


def resolved_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve(strict=False).is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _leads_out(path: Path, directory: Path) -> Problem | None:
    """A Problem when ``path`` is a symlink that loops or leads out of ``directory``."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        pass  # dangling: where it points still decides
    except (OSError, RuntimeError):  # ELOOP (RuntimeError before Python 3.13)
        return _link_problem(path, directory, "is a symlink loop")
    if resolved_inside(path, directory.resolve()):
        return None
    target = os.readlink(path)
    return _link_problem(path, directory, f"is a symlink that leads outside the recipe directory ({target})")


def _not_a_plain_entry(path: Path, directory: Path) -> Problem | None:
    """A FIFO, socket or device in a recipe directory: reading it for the build cache would
    block or read a device."""
    mode = path.lstat().st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    return _link_problem(
        path, directory, "is not a file, a directory or a symlink (a FIFO, socket or device)"
    )


def _link_problem(path: Path, directory: Path, what: str) -> Problem:
    relative = path.relative_to(directory).as_posix()
    return Problem(
        directory / RECIPE_FILE,
        "",
        f"{relative} in the recipe directory {what}",
        "keep the recipe's files inside its directory; copy the file instead of linking it",
    )
