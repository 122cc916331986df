"""The recipe format: pydantic models and ``parse_recipe`` (pure: a mapping in, a Recipe or a
RecipeError out). Reading files and checking what they point at lives in ``recipe_dir``.

A recipe holds only what its author wrote. Resolved values (the version chosen on the command
line, the target, paths) belong to the build plan, not here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pkgrun.errors import Problem, RecipeError
from pkgrun.recipe.fpm_flags import check_fpm_args
from pkgrun.recipe.schema import (
    MAX_EPOCH,
    NAME_MAX,
    RECIPES_KEY,
    Arch,
    Iteration,
    NonEmpty,
    OneLine,
    PackagePath,
    Plain,
    PypiName,
    RecipePath,
    Regex,
    RequirementKey,
    RequirementMap,
    RpmName,
    RuntimeRequirementMap,
    Sha256,
    ShellcheckCode,
    StagingPath,
    TestCommand,
    Text,
    UrlTemplate,
    Version,
    plain_file_name,
    recipe_path_rule,
)
from pkgrun.recipe.validation import key_text, problems_from, scan
from pkgrun.targets import TARGETS, Target

# --- the models -----------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Package(_Section):
    name: RpmName
    version: Version  # the default version; --version picks another one from [source.sha256]
    # a different default for some targets, by target name or package family (the target wins)
    version_for: dict[RequirementKey, Version] = Field({}, alias="version-for")
    epoch: int = Field(0, ge=0, le=MAX_EPOCH)
    iteration: Iteration = "1"  # RPM's Release without the dist tag; the target appends it
    arch: Arch = "x86_64"
    summary: OneLine
    description: Plain = ""
    license: Text
    url: Text
    vendor: Plain = ""
    maintainer: Text


class Source(_Section):
    url: UrlTemplate | None = None
    pypi: PypiName | None = None
    # version -> sha256 of the file; the versions pkgrun can build
    sha256: dict[Version, Sha256] = Field(min_length=1)
    # SOURCE_DATE_EPOCH of every build (file times, build time); default: the newest file time
    # in the source archive, so that the same source makes the same package
    date_epoch: int | None = Field(None, ge=0, le=2**32 - 1, alias="date-epoch")

    def filename(self, package: str, version: str) -> str:
        url = self.url_for(package, version)
        if url is None:
            return f"{self.pypi}-{version}.tar.gz"  # the PyPI sdist
        return url.rsplit("/", 1)[-1]

    def url_for(self, package: str, version: str) -> str | None:
        if self.url is None:
            return None
        # plain replacement, not str.format: a URL is not a format string
        return self.url.replace("{name}", package).replace("{version}", version)


class Build(_Section):
    script: RecipePath
    requires: RequirementMap = {}
    # other recipes whose packages this build needs: they build first, and their RPMs are
    # installed into this build's container before the build script runs
    recipes: list[RpmName] = []


class Files(_Section):
    paths: list[StagingPath] = Field(min_length=1)  # fpm's positional arguments: `etc usr`
    config: list[PackagePath] = []  # %config(noreplace)
    directories: list[PackagePath] = []  # %dir, owned (and removed) by the package
    # installed path -> file in the recipe directory, copied into the staging dir after the build
    add: dict[PackagePath, RecipePath] = {}


class Hooks(_Section):
    before_install: RecipePath | None = Field(None, alias="before-install")
    after_install: RecipePath | None = Field(None, alias="after-install")
    before_remove: RecipePath | None = Field(None, alias="before-remove")
    after_remove: RecipePath | None = Field(None, alias="after-remove")
    before_upgrade: RecipePath | None = Field(None, alias="before-upgrade")
    after_upgrade: RecipePath | None = Field(None, alias="after-upgrade")
    # what the hooks run (useradd, systemctl...), by family or target: Requires(pre) and the
    # like, so that rpm installs it before any hook runs and removes it after the last one
    requires: RequirementMap = {}

    def items(self) -> list[tuple[str, str]]:
        """(hook name as written, e.g. 'after-install', path) for the hooks that are set."""
        out = []
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if value is not None and name != "requires":
                out.append((info.alias or name, value))
        return out


class Fpm(_Section):
    # flags fpm has that the format does not model yet, passed through as they are
    args: list[str] = []  # checked as a whole in _cross_checks: every bad element is named


class Test(_Section):
    # shell commands run (each with sh -c) in a fresh container once the package is installed
    commands: list[TestCommand] = []


# rpmlint checks that mean a broken package, whatever the layout: they fail a build unless a
# recipe's [lint] fail says otherwise
DEFAULT_LINT_FAIL = ("dangling-symlink", "dangling-relative-symlink", "non-readable", "zero-perms")


class Lint(_Section):
    # the rpmlint checks that fail this recipe's build; the other findings are listed
    fail: list[NonEmpty] = list(DEFAULT_LINT_FAIL)
    # shellcheck codes (SC2086) not reported for this recipe's hooks and build script
    shellcheck_ignore: list[ShellcheckCode] = Field([], alias="shellcheck-ignore")
    # rpmlint checks not reported for this recipe, each with the reason: check = "why"
    ignore: dict[NonEmpty, NonEmpty] = Field(
        {}, examples=['{ no-manual-page-for-binary = "the manual is upstream\'s web site" }']
    )


class AutoDeps(_Section):
    """[autodeps]: the Requires and Provides rpm's generators find in the packaged files
    (autodeps.py), filtered as rpm's %__requires_exclude, %__provides_exclude and
    %__requires_exclude_from/%__provides_exclude_from filter them."""

    enabled: bool = True
    requires_exclude: list[Regex] = Field([], alias="requires-exclude")  # dependencies not required
    provides_exclude: list[Regex] = Field([], alias="provides-exclude")  # capabilities not provided
    # installed paths not scanned at all: %__requires_exclude_from and %__provides_exclude_from
    exclude_from: list[Regex] = Field([], alias="exclude-from")


class Recipe(_Section):
    package: Package
    source: Source
    requires: RuntimeRequirementMap = {}
    build: Build
    files: Files
    hooks: Hooks = Hooks()
    fpm: Fpm = Fpm()
    test: Test = Test()
    lint: Lint = Lint()
    autodeps: AutoDeps = AutoDeps()

    @property
    def name(self) -> str:
        return self.package.name

    def requires_for(self, target: Target) -> list[str]:
        """The package's Requires on ``target``: the target's (or its family's) list, then the
        other recipes' packages it needs, which are named the same everywhere."""
        return _resolve(self.requires, target) + list(self.requires.get(RECIPES_KEY, []))

    @property
    def recipe_requires(self) -> list[str]:
        """The names of the recipes whose packages this one requires at run time."""
        return [r.split()[0] for r in self.requires.get(RECIPES_KEY, [])]

    def hook_requires_for(self, target: Target) -> list[str]:
        return _resolve(self.hooks.requires, target)

    def default_version(self, target: Target) -> str:
        """The version built for ``target`` when no --version is given."""
        versions = self.package.version_for
        return versions.get(target.name) or versions.get(target.family.value) or self.package.version

    def build_requires_for(self, target: Target) -> list[str]:
        return _resolve(self.build.requires, target)

    def recipe_paths(self) -> list[tuple[str, str]]:
        """(field, path) of every file the recipe points at inside its directory."""
        paths = [("build.script", self.build.script)]
        paths += [(f"hooks.{name}", path) for name, path in self.hooks.items()]
        paths += [(f"files.add.{key_text(dest)}", src) for dest, src in self.files.add.items()]
        return paths


RECIPE_FILE = "recipe.toml"


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    directory: Path
    # shellcheck's findings that do not fail the recipe, listed by `pkgrun check`
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def file(self) -> Path:
        return self.directory / RECIPE_FILE


def _resolve(table: Mapping[str, list[str]], target: Target) -> list[str]:
    if target.name in table:
        return list(table[target.name])
    return list(table.get(target.family.value, []))


# --- parsing: pydantic errors become Problems a person can act on ---------------------------------

# Fields whose text may span lines; every other string is one line without control characters.
MULTILINE_FIELDS = ("package.description", "test.commands")
LONG_FIELDS = ("package.description", "test.commands")


def parse_recipe(data: Mapping[str, Any], file: Path) -> Recipe:
    """Validate a recipe mapping (as read from ``file``). Raises RecipeError with every problem."""
    recipe, problems = validate_recipe(data, file)
    if problems or recipe is None:
        raise RecipeError(problems)
    return recipe


def validate_recipe(data: Mapping[str, Any], file: Path) -> tuple[Recipe | None, list[Problem]]:
    """The recipe (None when the data is not one) and every problem found in it."""
    problems = scan(data, file, multiline=MULTILINE_FIELDS, long_fields=LONG_FIELDS)
    if problems:
        return None, problems  # no model sees control characters or absurd sizes
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        return None, problems_from(exc, file, Recipe)
    return recipe, [
        Problem(file, field, message, hint) for field, message, hint in _cross_checks(recipe, file)
    ]


def raw_recipe_paths(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, path) of the recipe's files that are well written, read from data that as a
    whole is not a valid recipe: their checks can still be reported with the other problems."""
    out: list[tuple[str, str]] = []

    def take(field: str, value: Any) -> None:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                out.append((field, recipe_path_rule(value)))

    def table(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = parent.get(key)
        return value if isinstance(value, dict) else {}

    take("build.script", table(data, "build").get("script"))
    for name, value in table(data, "hooks").items():
        if name != "requires":
            take(f"hooks.{key_text(str(name))}", value)
    for dest, value in table(table(data, "files"), "add").items():
        take(f"files.add.{key_text(str(dest))}", value)
    return out


# (field, message, hint) of a rule that spans fields
_Finding = tuple[str, str, str | None]


def _cross_checks(recipe: Recipe, file: Path) -> list[_Finding]:
    """Rules that span fields, so that pydantic cannot pin them on one."""
    return [
        *_lint_clashes(recipe.lint),
        *_name_differs_from_directory(recipe.package, file),
        *_source_kind(recipe.source),
        *_source_file_names(recipe.package, recipe.source),
        *_default_versions_without_checksum(recipe.package, recipe.source),
        *_bad_fpm_args(recipe.fpm),
        *_files_outside_packaged_paths(recipe.files),
    ]


def _lint_clashes(lint: Lint) -> list[_Finding]:
    """An rpmlint check both failed on (explicitly) and ignored."""
    explicit_fail = lint.fail if "fail" in lint.model_fields_set else []
    return [
        (
            f"lint.ignore.{check}",
            f"the rpmlint check {check!r} is both in [lint] fail and ignored",
            "remove it from one of them: ignore leaves its findings out, fail fails the build on them",
        )
        for check in sorted(set(explicit_fail) & set(lint.ignore))
    ]


def _name_differs_from_directory(pkg: Package, file: Path) -> list[_Finding]:
    if file.parent.name == pkg.name:
        return []
    return [
        (
            "package.name",
            f"{pkg.name!r} differs from the recipe's directory {file.parent.name!r}",
            f"rename the directory to {pkg.name!r} or set name = {file.parent.name!r}",
        )
    ]


def _source_kind(src: Source) -> list[_Finding]:
    """A source is a download URL or a PyPI project: exactly one of them."""
    if (src.url is None) != (src.pypi is None):
        return []
    return [
        (
            "source",
            "give exactly one of url (a download URL) or pypi (a PyPI project name)",
            'e.g. url = "https://nginx.org/download/nginx-{version}.tar.gz" or pypi = "supervisor"',
        )
    ]


def _source_file_names(pkg: Package, src: Source) -> list[_Finding]:
    """For each version with a checksum: its source file's name is a plain file name, and its
    RPM's file name fits in a directory entry on every target."""
    found: list[_Finding] = []
    for version in src.sha256:
        filename = src.filename(pkg.name, version)
        if not plain_file_name(filename):
            found.append(
                (
                    "source.url" if src.url else "source.pypi",
                    f"the source file name for {version}, {filename[:80]!r}, is not a plain file name",
                    "pkgrun keeps the file under this name and mounts it by name: the URL must end in "
                    "a name of letters, digits and . _ + ~ - (no query string), at most 255 bytes",
                )
            )
        found += _rpm_name_too_long(pkg, version)
    return found


def _rpm_name_too_long(pkg: Package, version: str) -> list[_Finding]:
    """The first target on which the RPM file name of ``version`` exceeds NAME_MAX, if any."""
    for target in TARGETS.values():
        rpm = f"{pkg.name}-{version}-{pkg.iteration}.{target.dist}.{pkg.arch}.rpm"
        if len(rpm.encode()) > NAME_MAX:
            return [
                (
                    "package.name",
                    f"the RPM file name {rpm[:60]}... is longer than {NAME_MAX} bytes",
                    "shorten the name, the version or the iteration",
                )
            ]
    return []


def _default_versions_without_checksum(pkg: Package, src: Source) -> list[_Finding]:
    """The default version and the per-target defaults must each have a checksum."""
    return [
        (
            f"source.sha256.{key_text(version)}",
            f"the default version {version} has no checksum",
            f'add "{version}" = "<sha256 of the source file>" under [source.sha256]',
        )
        for version in dict.fromkeys([pkg.version, *pkg.version_for.values()])
        if version not in src.sha256
    ]


def _bad_fpm_args(fpm: Fpm) -> list[_Finding]:
    return [(f"fpm.args[{bad.index}]", bad.message, None) for bad in check_fpm_args(fpm.args)]


def _files_outside_packaged_paths(files: Files) -> list[_Finding]:
    """Every config file, owned directory and added file lies under one of files.paths."""
    found: list[_Finding] = []
    top_levels = [p.split("/")[0] for p in files.paths]
    for where_in, paths in (
        ("files.config", files.config),
        ("files.directories", files.directories),
        ("files.add", list(files.add)),
    ):
        for index, path in enumerate(paths):
            if not any(_is_under(path, top) for top in files.paths):
                where = f"{where_in}.{key_text(path)}" if where_in == "files.add" else f"{where_in}[{index}]"
                found.append(
                    (
                        where,
                        f"{path} is outside the packaged paths {files.paths}",
                        f"add {path.split('/')[1]!r} to files.paths or move the file under "
                        f"{', '.join('/' + t for t in top_levels)}",
                    )
                )
    return found


def _is_under(package_path: str, staging_path: str) -> bool:
    top = "/" + staging_path
    return package_path == top or package_path.startswith(top + "/")
