"""Reading a TOML file that a user wrote (a recipe, pkgrun.toml) without trusting it: it may be
binary, huge, a FIFO, a directory or a symlink loop. Each case is a Problem naming the file."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any

from pkgrun.errors import Problem, ProblemsError

# A TOML file larger than this is refused unread.
MAX_TOML_BYTES = 1 << 20


def read_toml(file: Path, error: type[ProblemsError], what: str) -> dict[str, Any]:
    """The TOML document in ``file``; ``error`` (with one Problem) saying why it cannot be read:
    not a regular file, too large, not UTF-8, not TOML, nested too deeply."""

    def fail(message: str, hint: str | None = None) -> ProblemsError:
        return error([Problem(file, "", message, hint)])

    try:
        info = file.stat()
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise fail(f"is a directory; the {what} must be a file")
    if not stat.S_ISREG(info.st_mode):
        raise fail(f"is not a regular file (a device, FIFO or socket); the {what} must be a file")
    if info.st_size > MAX_TOML_BYTES:
        raise fail(f"is {info.st_size} bytes; a {what} may hold at most {MAX_TOML_BYTES}")
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_TOML_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\0" in raw:
        raise fail("is UTF-16 or binary: TOML files are UTF-8 text", "save the file as UTF-8")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise fail(
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): TOML files are UTF-8",
            "save the file as UTF-8",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise fail("not valid TOML: its tables or lists are nested too deeply") from None
