"""The one place where pkgrun starts a process.

Every external command goes through ``run``: it checks that the program exists before
anything runs, logs the command line, and turns a failure into a ``CommandFailed`` that keeps
the command and the tail of its output.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from plumbum import local
from plumbum.commands.processes import CommandNotFound

from pkgrun.errors import CommandFailed, ToolNotFound

log = logging.getLogger("pkgrun.run")

OUTPUT_TAIL_LINES = 30


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def find_tool(program: str, hint: str | None = None) -> str:
    """The full path of ``program``, or ToolNotFound before any work starts. Programs that
    come with pkgrun's Python dependencies (nfpm, createrepo_c) are also found beside pkgrun's
    own script, which need not be on PATH (.venv/bin/pkgrun run by its path)."""
    try:
        return str(local.which(program))
    except CommandNotFound:
        beside = Path(sysconfig.get_path("scripts")) / program
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
        raise ToolNotFound(f"{program} not found on PATH", hint=hint or f"install {program}") from None


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    hint: str | None = None,
) -> Result:
    """Run ``argv`` (a list, never a shell string) and capture its output."""
    argv = [str(a) for a in argv]
    command = local[find_tool(argv[0], hint)][argv[1:]]
    log_debug(argv)
    with local.cwd(cwd or local.cwd), local.env(**(env or {})):
        process = command.popen(stdin=subprocess.DEVNULL)
        try:
            out, err = cast(tuple[bytes, bytes], process.communicate())
        except BaseException:
            process.kill()
            process.wait()
            raise
        returncode = process.wait()
    # bytes that are not UTF-8 (a file name a build made) survive as surrogates, never dropped
    stdout, stderr = out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")
    result = Result(argv, returncode, stdout, stderr)
    if check and returncode != 0:
        raise CommandFailed(argv, returncode, tail(stdout + stderr), hint=hint)
    return result


def run_logged(argv: Sequence[str], log: Path, *, hint: str | None = None) -> None:
    """Run ``argv`` with its output (stdout and stderr, interleaved) appended to ``log`` as it
    comes, for long steps whose output is too big to hold. On failure, the error carries the
    log's last lines. Ctrl-C stops the process and propagates."""
    argv = [str(a) for a in argv]
    command = local[find_tool(argv[0], hint)][argv[1:]]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"+ {shlex.join(argv)}\n")
        out.flush()
        log_debug(argv)
        process = command.popen(stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            returncode = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
    if returncode != 0:
        raise CommandFailed(argv, returncode, tail(log.read_text(errors="replace")), hint=hint)


def log_debug(argv: Sequence[str]) -> None:
    log.debug("+ %s", shlex.join(argv))


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
