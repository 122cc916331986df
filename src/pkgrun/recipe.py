"""The recipe format: pydantic models and ``parse_recipe`` (pure: a mapping in, a Recipe or a
RecipeError out). Reading files and checking what they point at lives in ``recipe_dir``.

A recipe holds only what its author wrote. Resolved values (the version chosen on the command
line, the target, paths) belong to the build plan, not here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from pkgrun.errors import Problem, RecipeError
from pkgrun.fpm_flags import check_fpm_args
from pkgrun.targets import TARGETS, PackageFamily, Target
from pkgrun.validation import did_you_mean, key_text, problems_from, scan

# pkgrun's commands. `pkgrun NAME` builds recipe NAME, so a recipe may not take one of these names.
COMMAND_NAMES = frozenset(
    {"build", "check", "fetch", "help", "image", "list", "nightly", "plan", "publish", "repo", "serve"}
)

ARCHES = ("x86_64", "aarch64", "ppc64le", "s390x", "i686", "noarch")
# rpm keeps the epoch in an unsigned 32-bit header field
MAX_EPOCH = 2**32 - 1
# the longest file name most file systems take (NAME_MAX), in bytes: the RPM's file name and
# every component of an installed path must fit
NAME_MAX = 255

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~^]*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_PYPI_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
# One requirement per entry: a name (a package, a capability such as perl(Foo), or an absolute
# path), optionally an operator and a version ("openssl >= 1.0.2"). Never a leading '-': a
# requirement lands in argv (fpm -d, apt-get install).
_REQUIREMENT_RE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_.+()/:-]*( (<|>|<=|>=|=) [A-Za-z0-9_.+~:^-]+)?")
# The source's file name becomes a path in the cache and part of a --mount specification: a
# safe character set only (no ',' '=' or quotes), never a leading '-' or '.'.
_FILENAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")
_URL_PLACEHOLDERS = ("{name}", "{version}")


# --- field types: each validator says what is wrong and what is allowed --------------------------


def _rpm_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid RPM name: use letters, digits and . _ + - (not first)")
    if value in COMMAND_NAMES:
        raise ValueError(
            f"{value!r} is a pkgrun command, so `pkgrun {value}` could not build it: choose another name"
        )
    return value


def rpm_version_rule(what: str) -> Callable[[str], str]:
    """The check for an RPM version or release field: no '-', RPM's characters only."""

    def check(value: str) -> str:
        if "-" in value:
            raise ValueError(
                f"{what} {value!r} contains '-', which RPM reserves to separate version and "
                f"release: use '.' or '_' instead"
            )
        if not _VERSION_RE.fullmatch(value):
            raise ValueError(
                f"{what} {value!r} may hold only letters, digits and . _ + ~ ^ (starting with a "
                "letter or digit)"
            )
        return value

    return check


def _arch(value: str) -> str:
    if value not in ARCHES:
        raise ValueError(f"{value!r} is not an RPM architecture; allowed: {', '.join(ARCHES)}")
    return value


def _int_to_str(value: Any) -> Any:
    # `iteration = 3` is the natural way to write it in TOML; bool is an int in Python, refuse it.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _sha256(value: str) -> str:
    if not _SHA256_RE.fullmatch(value.lower()):
        raise ValueError(f"must be 64 hex digits (a sha256), got {len(value)} characters: {_short(value)}")
    return value.lower()


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def _one_line(value: str) -> str:
    if "\n" in value.strip():
        raise ValueError("must be a single line (put longer text in description)")
    return _no_dash(_not_empty(value.strip()))


def _not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _no_dash(value: str) -> str:
    """A value that lands in argv after a flag: never one that reads as an option."""
    if value.lstrip().startswith("-"):
        raise ValueError(f"must not start with '-' (got {_short(value)}): it would read as an option")
    return value


def _requirement(value: str) -> str:
    if value.startswith("-"):
        raise ValueError(f"{_short(value)} starts with '-': a requirement is a package name, not an option")
    if not _REQUIREMENT_RE.fullmatch(value):
        words = value.split()
        if len(words) > 1 and all(_NAME_RE.fullmatch(w) for w in words):
            raise ValueError(
                f"one requirement per entry: write {', '.join(repr(w) for w in words)} as separate list items"
            )
        raise ValueError(
            f"{_short(value)} is not a requirement: write a package name, optionally with a version "
            "as in 'openssl >= 1.0.2'"
        )
    return value


def _requirement_key(value: str) -> str:
    allowed = [f.value for f in PackageFamily] + list(TARGETS)
    if value not in allowed:
        raise ValueError(
            f"{_short(value)} is neither a package family nor a target{did_you_mean(value, allowed)}; "
            f"allowed: {', '.join(allowed)}"
        )
    return value


def _recipe_path(value: str) -> str:
    """A file inside the recipe directory, written relative to it."""
    if not value:
        raise ValueError("must not be empty")
    if value.startswith("/"):
        raise ValueError(
            f"{_short(value)} is absolute: write it relative to the recipe directory, e.g. 'build.sh'"
        )
    if ".." in value.split("/"):
        raise ValueError(f"{_short(value)} leaves the recipe directory: '..' is not allowed")
    if value.startswith("-"):
        raise ValueError(
            f"{_short(value)} starts with '-': name files so that no tool reads them as an option"
        )
    _check_components(value)
    return value


def _check_components(value: str) -> None:
    for part in value.split("/"):
        if len(part.encode()) > NAME_MAX:
            raise ValueError(f"a path component is longer than {NAME_MAX} bytes: {_short(part)}")


def _package_path(value: str) -> str:
    """A path as installed on the target system: absolute and normalized."""
    if not value.startswith("/"):
        raise ValueError(f"{_short(value)} must be absolute, as installed: e.g. '/etc/nginx/nginx.conf'")
    if ".." in value.split("/"):
        raise ValueError(f"{_short(value)} must not contain '..'")
    if posixpath.normpath(value) != value or value == "/":
        raise ValueError(f"{_short(value)} must be normalized (no '//', '/./' or trailing '/') and not '/'")
    _check_components(value)
    return value


def _staging_path(value: str) -> str:
    """A top-level path of the staging directory, as fpm's positional arguments (`etc`, `usr`)."""
    if not value or value.startswith("/"):
        raise ValueError(f"{_short(value)} must be relative to the staging directory, e.g. 'usr'")
    if ".." in value.split("/") or posixpath.normpath(value) != value or value == ".":
        raise ValueError(f"{_short(value)} must be normalized and must not contain '..'")
    if value.startswith("-"):
        raise ValueError(f"{_short(value)} starts with '-': it would read as an option of fpm")
    _check_components(value)
    return value


def _url_template(value: str) -> str:
    if not re.match(r"(https?|ftp)://[^/\s]+/\S+$", value):
        raise ValueError(f"{_short(value)} is not an http(s) or ftp URL of a file")
    rest = value
    for placeholder in _URL_PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if unknown := re.search(r"\{[^{}]*\}", rest):
        raise ValueError(f"unknown placeholder {unknown.group()}: the URL may use {{name}} and {{version}}")
    if "{" in rest or "}" in rest:
        raise ValueError(
            f"{_short(value)} has a brace that is not {{name}} or {{version}}: the URL may use only those "
            "two placeholders"
        )
    return value


def _pypi_name(value: str) -> str:
    if not _PYPI_RE.fullmatch(value):
        raise ValueError(f"{_short(value)} is not a PyPI project name")
    return value


def _shellcheck_code(value: str) -> str:
    if not re.fullmatch(r"SC\d{4}", value):
        raise ValueError(f"{_short(value)} is not a shellcheck code: write it as SC2086")
    return value


def _test_command(value: str) -> str:
    return _no_dash(_not_empty(value))


RpmName = Annotated[str, AfterValidator(_rpm_name)]
Version = Annotated[str, AfterValidator(rpm_version_rule("version"))]
Iteration = Annotated[str, BeforeValidator(_int_to_str), AfterValidator(rpm_version_rule("iteration"))]
Sha256 = Annotated[str, AfterValidator(_sha256)]
OneLine = Annotated[str, AfterValidator(_one_line)]
Text = Annotated[str, AfterValidator(_not_empty), AfterValidator(_no_dash)]
Requirement = Annotated[str, AfterValidator(_requirement)]
RequirementKey = Annotated[str, AfterValidator(_requirement_key)]
RecipePath = Annotated[str, AfterValidator(_recipe_path)]
PackagePath = Annotated[str, AfterValidator(_package_path)]
StagingPath = Annotated[str, AfterValidator(_staging_path)]
# Requirements by package family ("yum", "apt") or by target name ("el7"), the target winning.
RequirementMap = dict[RequirementKey, list[Requirement]]


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
    arch: Annotated[str, AfterValidator(_arch)] = "x86_64"
    summary: OneLine
    description: Annotated[str, AfterValidator(_no_dash)] = ""
    license: Text
    url: Text
    vendor: Annotated[str, AfterValidator(_no_dash)] = ""
    maintainer: Text


class Source(_Section):
    url: Annotated[str, AfterValidator(_url_template)] | None = None
    pypi: Annotated[str, AfterValidator(_pypi_name)] | None = None
    # version -> sha256 of the file; the versions pkgrun can build
    sha256: dict[Version, Sha256] = Field(min_length=1)

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

    def items(self) -> list[tuple[str, str]]:
        """(hook name as written, e.g. 'after-install', path) for the hooks that are set."""
        out = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is not None:
                out.append((field.alias or name, value))
        return out


class Fpm(_Section):
    # flags fpm has that the format does not model yet, passed through as they are
    args: list[str] = []  # checked as a whole in _cross_checks: every bad element is named


class Test(_Section):
    # shell commands run (each with sh -c) in a fresh container once the package is installed
    commands: list[Annotated[str, AfterValidator(_test_command)]] = []


# rpmlint checks that mean a broken package, whatever the layout: they fail a build unless a
# recipe's [lint] fail says otherwise
DEFAULT_LINT_FAIL = ("dangling-symlink", "dangling-relative-symlink", "non-readable", "zero-perms")


class Lint(_Section):
    # the rpmlint checks that fail this recipe's build; the other findings are listed
    fail: list[Annotated[str, AfterValidator(_not_empty)]] = list(DEFAULT_LINT_FAIL)
    # shellcheck codes (SC2086) not reported for this recipe's hooks and build script
    shellcheck_ignore: list[Annotated[str, AfterValidator(_shellcheck_code)]] = Field(
        [], alias="shellcheck-ignore"
    )


class Recipe(_Section):
    package: Package
    source: Source
    requires: RequirementMap = {}
    build: Build
    files: Files
    hooks: Hooks = Hooks()
    fpm: Fpm = Fpm()
    test: Test = Test()
    lint: Lint = Lint()

    @property
    def name(self) -> str:
        return self.package.name

    def requires_for(self, target: Target) -> list[str]:
        return _resolve(self.requires, target)

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
    problems = scan(data, file, multiline=MULTILINE_FIELDS, long_fields=LONG_FIELDS)
    if problems:
        raise RecipeError(problems)  # no model sees control characters or absurd sizes
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(problems_from(exc, file, Recipe)) from None
    problems = [Problem(file, field, message, hint) for field, message, hint in _cross_checks(recipe, file)]
    if problems:
        raise RecipeError(problems)
    return recipe


def _cross_checks(recipe: Recipe, file: Path) -> list[tuple[str, str, str | None]]:
    """Rules that span fields, so that pydantic cannot pin them on one."""
    found: list[tuple[str, str, str | None]] = []
    pkg, src, files = recipe.package, recipe.source, recipe.files
    if file.parent.name != pkg.name:
        found.append(
            (
                "package.name",
                f"{pkg.name!r} differs from the recipe's directory {file.parent.name!r}",
                f"rename the directory to {pkg.name!r} or set name = {file.parent.name!r}",
            )
        )
    if (src.url is None) == (src.pypi is None):
        found.append(
            (
                "source",
                "give exactly one of url (a download URL) or pypi (a PyPI project name)",
                'e.g. url = "https://nginx.org/download/nginx-{version}.tar.gz" or pypi = "supervisor"',
            )
        )
    for version in src.sha256:
        filename = src.filename(pkg.name, version)
        if not _FILENAME_RE.fullmatch(filename) or len(filename.encode()) > NAME_MAX:
            found.append(
                (
                    "source.url" if src.url else "source.pypi",
                    f"the source file name for {version}, {filename[:80]!r}, is not a plain file name",
                    "pkgrun keeps the file under this name and mounts it by name: the URL must end in "
                    "a name of letters, digits and . _ + ~ - (no query string), at most 255 bytes",
                )
            )
        for target in TARGETS.values():
            rpm = f"{pkg.name}-{version}-{pkg.iteration}.{target.dist}.{pkg.arch}.rpm"
            if len(rpm.encode()) > NAME_MAX:
                found.append(
                    (
                        "package.name",
                        f"the RPM file name {rpm[:60]}... is longer than {NAME_MAX} bytes",
                        "shorten the name, the version or the iteration",
                    )
                )
                break
    for version in dict.fromkeys([pkg.version, *pkg.version_for.values()]):
        if version not in src.sha256:
            found.append(
                (
                    f"source.sha256.{key_text(version)}",
                    f"the default version {version} has no checksum",
                    f'add "{version}" = "<sha256 of the source file>" under [source.sha256]',
                )
            )
    for bad in check_fpm_args(recipe.fpm.args):
        found.append((f"fpm.args[{bad.index}]", bad.message, None))
    top_levels = [p.split("/")[0] for p in files.paths]
    for field, paths in (
        ("files.config", files.config),
        ("files.directories", files.directories),
        ("files.add", list(files.add)),
    ):
        for index, path in enumerate(paths):
            if not any(_is_under(path, top) for top in files.paths):
                where = f"{field}.{key_text(path)}" if field == "files.add" else f"{field}[{index}]"
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
