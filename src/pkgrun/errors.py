"""Typed errors. Each carries the exit code the CLI returns and an optional hint.

Core modules raise these; only ``cli.main`` catches them and prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class PkgrunError(Exception):
    """Something the user can act on. ``hint`` says what to do."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PkgrunError):
    """A bad command line: unknown recipe, version or target."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Problem:
    """One mistake in one recipe: where it is, what is wrong, what is allowed."""

    file: Path
    field: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else str(self.file)
        return f"{where}: {self.message}"


class ProblemsError(PkgrunError):
    """One or more files are invalid. Every problem found is listed, not just the first."""

    exit_code = EXIT_BAD_INPUT
    what = "file"
    reference = "docs/recipes.md"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        files = len({p.file for p in self.problems})
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in {files} {self.what}{'s' if files != 1 else ''}",
            hint=f"fix the fields named above; the reference is {self.reference}",
        )


class RecipeError(ProblemsError):
    """One or more recipes are invalid."""

    what = "recipe file"


class ConfigError(ProblemsError):
    """The project configuration (pkgrun.toml) is invalid."""

    reference = "docs/configuration.md"

    what = "configuration file"


class ToolNotFound(PkgrunError):
    """A program pkgrun needs is not installed."""

    exit_code = EXIT_BAD_INPUT


class CommandFailed(PkgrunError):
    """A process exited non-zero. Keeps the command and the tail of its output."""

    def __init__(
        self, argv: list[str], returncode: int, output: str, hint: str | None = None, what: str | None = None
    ) -> None:
        self.argv = argv
        self.returncode = returncode
        self.output = output
        super().__init__(f"{what or argv[0]} failed (exit status {returncode})", hint=hint)
