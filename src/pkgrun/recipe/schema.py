"""The field types of a recipe: each validator says what is wrong and what is allowed.

Strings that land in an argv may not start with '-'; names, versions and paths hold what RPM,
fpm and the file system take (recipe.py builds the models from these types).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from pkgrun.recipe.reserved import COMMAND_NAMES
from pkgrun.recipe.validation import did_you_mean
from pkgrun.targets import TARGETS, PackageFamily

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
            keep = ""
            if what == "version":
                base, _, suffix = value.partition("-")
                keep = (
                    f"; to keep upstream's suffix in the download, write version = {base!r} and put the "
                    f'suffix in [source] url, e.g. "https://example.org/NAME-{{version}}-{suffix}.tar.gz"'
                )
            raise ValueError(
                f"{what} {value!r} contains '-', which RPM reserves to separate version and "
                f"release: use '.' or '_' instead{keep}"
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


# [requires] recipes: other recipes' packages, by recipe name, the same on every target
RECIPES_KEY = "recipes"


def _requires_key(value: str) -> str:
    if value == RECIPES_KEY:
        return value
    return _requirement_key(value)


def recipe_path_rule(value: str) -> str:
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
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{_short(repr(value))} holds a control character: name it with printable ones")
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


def _regex(value: str) -> str:
    """A regular expression in Python's syntax, searched as rpm's %__requires_exclude is (most of
    rpm's POSIX extended expressions, such as ^libfoo\\.so\\.1, read the same; a POSIX class
    such as [[:digit:]] does not, and is refused rather than never matching)."""
    if not value:
        raise ValueError("an empty pattern matches everything: write the pattern, or remove the entry")
    if "[:" in value:
        raise ValueError(
            f"{_short(value)} holds a POSIX character class ([:digit:]), which Python's regular "
            "expressions read as a set of characters: write [0-9], [A-Za-z], \\s instead"
        )
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{_short(value)} is not a regular expression: {exc}") from None
    return value


RpmName = Annotated[str, AfterValidator(_rpm_name)]
Version = Annotated[str, AfterValidator(rpm_version_rule("version"))]
Iteration = Annotated[str, BeforeValidator(_int_to_str), AfterValidator(rpm_version_rule("iteration"))]
Sha256 = Annotated[str, AfterValidator(_sha256)]
OneLine = Annotated[str, AfterValidator(_one_line)]
Text = Annotated[str, AfterValidator(_not_empty), AfterValidator(_no_dash)]
Requirement = Annotated[str, AfterValidator(_requirement)]
RequirementKey = Annotated[str, AfterValidator(_requirement_key)]
RequiresKey = Annotated[str, AfterValidator(_requires_key)]
RecipePath = Annotated[str, AfterValidator(recipe_path_rule)]
PackagePath = Annotated[str, AfterValidator(_package_path)]
StagingPath = Annotated[str, AfterValidator(_staging_path)]
Arch = Annotated[str, AfterValidator(_arch)]
Plain = Annotated[str, AfterValidator(_no_dash)]  # may be empty, never an option
NonEmpty = Annotated[str, AfterValidator(_not_empty)]
UrlTemplate = Annotated[str, AfterValidator(_url_template)]
PypiName = Annotated[str, AfterValidator(_pypi_name)]
TestCommand = Annotated[str, AfterValidator(_test_command)]
ShellcheckCode = Annotated[str, AfterValidator(_shellcheck_code)]
Regex = Annotated[str, AfterValidator(_regex)]


def plain_file_name(name: str) -> bool:
    """A source file name pkgrun keeps and copies by name: a safe character set, at most NAME_MAX."""
    return bool(_FILENAME_RE.fullmatch(name)) and len(name.encode()) <= NAME_MAX


# Requirements by package family ("yum", "apt") or by target name ("el7"), the target winning.
RequirementMap = dict[RequirementKey, list[Requirement]]
# [requires]: the same, plus "recipes" for other recipes' packages
RuntimeRequirementMap = dict[RequiresKey, list[Requirement]]
