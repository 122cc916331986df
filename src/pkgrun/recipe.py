"""The recipe format: pydantic models and ``parse_recipe`` (pure: a mapping in, a Recipe or a
RecipeError out). Reading files and checking what they point at lives in ``recipe_dir``.

A recipe holds only what its author wrote. Resolved values (the version chosen on the command
line, the target, paths) belong to the build plan, not here.
"""

from __future__ import annotations

import difflib
import posixpath
import re
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from pkgrun.errors import Problem, RecipeError
from pkgrun.targets import TARGETS, PackageFamily, Target

# pkgrun's commands. `pkgrun NAME` builds recipe NAME, so a recipe may not take one of these names.
COMMAND_NAMES = frozenset(
    {"build", "check", "fetch", "help", "image", "list", "nightly", "plan", "publish", "repo", "serve"}
)

ARCHES = ("x86_64", "aarch64", "ppc64le", "s390x", "i686", "noarch")

# Flags that pkgrun derives from the recipe itself; passing them through [fpm] args would
# contradict the recipe, so they are refused there.
FPM_MANAGED_FLAGS = {
    "-s": "pkgrun packages a directory",
    "-t": "pkgrun makes RPMs",
    "-f": "pkgrun always passes -f",
    "--force": "pkgrun always passes -f",
    "-n": "[package] name",
    "--name": "[package] name",
    "-v": "[package] version or --version",
    "--version": "[package] version or --version",
    "--epoch": "[package] epoch",
    "--iteration": "[package] iteration",
    "-a": "[package] arch",
    "--architecture": "[package] arch",
    "-C": "pkgrun's staging directory",
    "--chdir": "pkgrun's staging directory",
    "-p": "pkgrun's output directory",
    "--package": "pkgrun's output directory",
    "--workdir": "pkgrun's work directory",
    "-d": "[requires]",
    "--depends": "[requires]",
    "--config-files": "[files] config",
    "--directories": "[files] directories",
    "--before-install": "[hooks] before-install",
    "--after-install": "[hooks] after-install",
    "--before-remove": "[hooks] before-remove",
    "--after-remove": "[hooks] after-remove",
    "--before-upgrade": "[hooks] before-upgrade",
    "--after-upgrade": "[hooks] after-upgrade",
    "--rpm-compression": "the target's payload compression",
    "--rpm-digest": "pkgrun (sha256 file digests)",
}

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~^]*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_PYPI_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
# One requirement per entry: a name, optionally an operator and a version ("openssl >= 1.0.2").
_REQUIREMENT_RE = re.compile(r"[A-Za-z0-9_.+()/:-]+( (<|>|<=|>=|=) [A-Za-z0-9_.+~:^-]+)?")
_URL_PLACEHOLDERS = frozenset({"name", "version"})
# Pydantic prefixes messages of ValueErrors raised in validators with this; ours read better without.
_VALUE_ERROR_PREFIX = "Value error, "


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
        raise ValueError(f"must be 64 hex digits (a sha256), got {len(value)} characters: {value!r}")
    return value.lower()


def _one_line(value: str) -> str:
    if "\n" in value.strip():
        raise ValueError("must be a single line (put longer text in description)")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _requirement(value: str) -> str:
    if not _REQUIREMENT_RE.fullmatch(value):
        words = value.split()
        if len(words) > 1 and all(_NAME_RE.fullmatch(w) for w in words):
            raise ValueError(
                f"one requirement per entry: write {', '.join(repr(w) for w in words)} as separate list items"
            )
        raise ValueError(
            f"{value!r} is not a requirement: write a package name, optionally with a version "
            "as in 'openssl >= 1.0.2'"
        )
    return value


def _requirement_key(value: str) -> str:
    allowed = [f.value for f in PackageFamily] + list(TARGETS)
    if value not in allowed:
        raise ValueError(
            f"{value!r} is neither a package family nor a target{_did_you_mean(value, allowed)}; "
            f"allowed: {', '.join(allowed)}"
        )
    return value


def _recipe_path(value: str) -> str:
    """A file inside the recipe directory, written relative to it."""
    if not value:
        raise ValueError("must not be empty")
    if value.startswith("/"):
        raise ValueError(f"{value!r} is absolute: write it relative to the recipe directory, e.g. 'build.sh'")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} leaves the recipe directory: '..' is not allowed")
    return value


def _package_path(value: str) -> str:
    """A path as installed on the target system: absolute and normalized."""
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be absolute, as installed: e.g. '/etc/nginx/nginx.conf'")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} must not contain '..'")
    if posixpath.normpath(value) != value or value == "/":
        raise ValueError(f"{value!r} must be normalized (no '//', '/./' or trailing '/') and not '/'")
    return value


def _staging_path(value: str) -> str:
    """A top-level path of the staging directory, as fpm's positional arguments (`etc`, `usr`)."""
    if not value or value.startswith("/"):
        raise ValueError(f"{value!r} must be relative to the staging directory, e.g. 'usr'")
    if ".." in value.split("/") or posixpath.normpath(value) != value:
        raise ValueError(f"{value!r} must be normalized and must not contain '..'")
    return value


def _url_template(value: str) -> str:
    if not re.match(r"(https?|ftp)://[^/\s]+/\S+$", value):
        raise ValueError(f"{value!r} is not an http(s) or ftp URL of a file")
    used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    unknown = sorted(used - _URL_PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}: the URL may use {{name}} and {{version}}")
    return value


def _pypi_name(value: str) -> str:
    if not _PYPI_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a PyPI project name")
    return value


def _fpm_args(value: list[str]) -> list[str]:
    for arg in value:
        flag = arg.split("=", 1)[0]
        if flag in FPM_MANAGED_FLAGS:
            raise ValueError(f"{flag} is set by pkgrun from {FPM_MANAGED_FLAGS[flag]}: remove it here")
    if value and not value[0].startswith("-"):
        raise ValueError(f'must start with a flag (got {value[0]!r}); e.g. ["--rpm-os", "linux"]')
    return value


RpmName = Annotated[str, AfterValidator(_rpm_name)]
Version = Annotated[str, AfterValidator(rpm_version_rule("version"))]
Iteration = Annotated[str, BeforeValidator(_int_to_str), AfterValidator(rpm_version_rule("iteration"))]
Sha256 = Annotated[str, AfterValidator(_sha256)]
OneLine = Annotated[str, AfterValidator(_one_line)]
Text = Annotated[str, AfterValidator(_not_empty)]
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
    epoch: int = Field(0, ge=0)
    iteration: Iteration = "1"  # RPM's Release without the dist tag; the target appends it
    arch: Annotated[str, AfterValidator(_arch)] = "x86_64"
    summary: OneLine
    description: str = ""
    license: Text
    url: Text
    vendor: str = ""
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
        return self.url.format(name=package, version=version)


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
    args: Annotated[list[str], AfterValidator(_fpm_args)] = []


class Test(_Section):
    # shell commands run (each with sh -c) in a fresh container once the package is installed
    commands: list[Annotated[str, AfterValidator(_not_empty)]] = []


# rpmlint checks that mean a broken package, whatever the layout: they fail a build unless a
# recipe's [lint] fail says otherwise
DEFAULT_LINT_FAIL = ("dangling-symlink", "dangling-relative-symlink", "non-readable", "zero-perms")


class Lint(_Section):
    # the rpmlint checks that fail this recipe's build; the other findings are listed
    fail: list[Annotated[str, AfterValidator(_not_empty)]] = list(DEFAULT_LINT_FAIL)


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
        paths += [(f"files.add.{_key(dest)}", src) for dest, src in self.files.add.items()]
        return paths


def _resolve(table: Mapping[str, list[str]], target: Target) -> list[str]:
    if target.name in table:
        return list(table[target.name])
    return list(table.get(target.family.value, []))


# --- parsing: pydantic errors become Problems a person can act on ---------------------------------


def parse_recipe(data: Mapping[str, Any], file: Path) -> Recipe:
    """Validate a recipe mapping (as read from ``file``). Raises RecipeError with every problem."""
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
    for version in dict.fromkeys([pkg.version, *pkg.version_for.values()]):
        if version not in src.sha256:
            found.append(
                (
                    f"source.sha256.{_key(version)}",
                    f"the default version {version} has no checksum",
                    f'add "{version}" = "<sha256 of the source file>" under [source.sha256]',
                )
            )
    top_levels = [p.split("/")[0] for p in files.paths]
    for field, paths in (
        ("files.config", files.config),
        ("files.directories", files.directories),
        ("files.add", list(files.add)),
    ):
        for index, path in enumerate(paths):
            if not any(_is_under(path, top) for top in files.paths):
                where = f"{field}.{_key(path)}" if field == "files.add" else f"{field}[{index}]"
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


_TYPE_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string (in quotes)",
    "int_type": "must be an integer",
    "list_type": 'must be a list, e.g. ["a", "b"]',
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "too_short": "must not be empty",
    "greater_than_equal": "must be a non-negative integer",
}


def problems_from(exc: ValidationError, file: Path, root: type[BaseModel]) -> list[Problem]:
    """Pydantic's errors for ``root`` read from ``file``, as Problems a person can act on."""
    return [_problem(err, file, root) for err in exc.errors()]


def _problem(err: Mapping[str, Any], file: Path, root: type[BaseModel]) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], root)
        key = str(loc[-1])
        return Problem(
            file,
            _field(loc),
            f"unknown key {key!r}{_did_you_mean(key, allowed)}",
            f"allowed here: {', '.join(allowed)}" if allowed else None,
        )
    if kind == "missing":
        section = _field(loc[:-1]) or "the top level"
        return Problem(
            file,
            _field(loc),
            "is required",
            f"add {loc[-1]} under [{section}]" if loc[:-1] else f"add a [{loc[-1]}] table",
        )
    message = str(err["msg"]).removeprefix(_VALUE_ERROR_PREFIX)
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind]
        if "input" in err and kind != "missing":
            message += f" (got {_show(err['input'])})"
    return Problem(file, _field(loc), message)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(loc: tuple[Any, ...]) -> str:
    """('source', 'sha256', '7.1.8') -> source.sha256."7.1.8"; list indices as [n]."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue  # pydantic marks an error in a dict key this way; the key itself is named
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _key(str(part))
    return out


def _key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The keys the model at ``loc`` accepts, as written in TOML (aliases)."""
    model: Any = root
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``X | None`` or ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
