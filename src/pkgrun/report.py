"""How core code tells the user what it is doing, without printing: a Reporter.

The CLI installs a rich one (a live view on a terminal, plain lines otherwise); library use and
tests get the silent ``NullReporter``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def step(self, recipe: str, name: str) -> AbstractContextManager[None]:
        """A named, timed step of a build: entered when it starts, left when it ends or fails."""
        ...

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        """A byte-counted task (a download); call the result with each chunk's size."""
        ...

    def note(self, recipe: str, message: str) -> None:
        """Something the user should see: a choice made, a cached result reused."""
        ...


class NullReporter:
    @contextmanager
    def step(self, recipe: str, name: str) -> Iterator[None]:
        yield

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        return lambda n: None

    def note(self, recipe: str, message: str) -> None:
        pass


class Labelled:
    """A reporter whose lines say which target a recipe's step belongs to."""

    def __init__(self, inner: Reporter, target: str) -> None:
        self.inner, self.target = inner, target

    def step(self, recipe: str, name: str) -> AbstractContextManager[None]:
        return self.inner.step(f"{recipe} ({self.target})", name)

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        return self.inner.progress(f"{recipe} ({self.target})", name, total)

    def note(self, recipe: str, message: str) -> None:
        self.inner.note(f"{recipe} ({self.target})", message)
