"""The one place where pkgrun starts a process.

Every external command goes through here: it checks that the program exists before anything
runs, logs the command line, and turns a failure into a ``CommandFailed`` that keeps the command
and the tail of its output. Output is decoded as UTF-8 with bytes that are not UTF-8 kept (as
surrogates), never dropped. plumbum is imported when the first process starts, not before:
commands that start none (`pkgrun list`, `--help`) do not pay for it.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shlex
import shutil
import subprocess
import sysconfig
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from pkgrun.errors import CommandFailed, ToolNotFound

log = logging.getLogger("pkgrun.run")

OUTPUT_TAIL_LINES = 30


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


# Programs a Python dependency carries as a binary behind a wrapper script that starts Python
# to run it (60 ms a run, four times createrepo_c's own work on a small repository): the binary
# itself, as package -> path inside it. It is the version pyproject pins, the one whose bindings
# read the metadata back (repo/data.py), so it comes before one on PATH.
_BEHIND_WRAPPER = {"createrepo_c": ("createrepo_c", "data/bin/createrepo_c")}


@functools.cache
def _carried(program: str) -> str | None:
    if program not in _BEHIND_WRAPPER:
        return None
    package, inside = _BEHIND_WRAPPER[program]
    spec = importlib.util.find_spec(package)  # locates it, imports nothing
    for base in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(base) / inside
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def find_tool(program: str, hint: str | None = None) -> str:
    """The full path of ``program``, or ToolNotFound before any work starts. Programs that
    come with pkgrun's Python dependencies (nfpm, createrepo_c, shellcheck) are also found beside
    pkgrun's own script, which need not be on PATH (.venv/bin/pkgrun run by its path)."""
    found = _carried(program) or shutil.which(program)
    if found:
        return found
    beside = Path(sysconfig.get_path("scripts")) / program
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise ToolNotFound(f"{program} not found on PATH", hint=hint or f"install {program}")


def _command(argv: Sequence[str], hint: str | None) -> Any:
    from plumbum import local

    return local[find_tool(argv[0], hint)][list(argv[1:])]


# The processes running now, by their argv: a build host that stops answering leaves its
# client processes waiting for ever; stop_processes ends them, and those started later with
# the same prefix (until allow_processes), so that their builds fail instead of hanging.
_LIVE: dict[int, tuple[list[str], Any]] = {}
_STOPPED: list[list[str]] = []
_LIVE_LOCK = threading.Lock()


@contextmanager
def _live(argv: list[str], process: Any) -> Iterator[None]:
    with _LIVE_LOCK:
        _LIVE[id(process)] = (argv, process)
        stopped = any(argv[: len(prefix)] == prefix for prefix in _STOPPED)
    if stopped:
        with suppress(OSError):
            process.kill()
    try:
        yield
    finally:
        with _LIVE_LOCK:
            _LIVE.pop(id(process), None)


def stop_processes(prefix: Sequence[str]) -> int:
    """Kill the running processes whose argv starts with ``prefix`` (an engine's, with the
    service it talks to); how many there were."""
    prefix = list(prefix)
    with _LIVE_LOCK:
        if prefix not in _STOPPED:
            _STOPPED.append(prefix)
        matching = [p for argv, p in _LIVE.values() if argv[: len(prefix)] == prefix]
    for process in matching:
        with suppress(OSError):  # it ended meanwhile
            process.kill()
    return len(matching)


def allow_processes(prefix: Sequence[str]) -> None:
    """Let processes with this prefix run again (after stop_processes)."""
    with _LIVE_LOCK:
        if list(prefix) in _STOPPED:
            _STOPPED.remove(list(prefix))


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    hint: str | None = None,
    stdin: Path | None = None,
    timeout: float | None = None,
) -> Result:
    """Run ``argv`` (a list, never a shell string) and capture its output. ``stdin``: a file
    whose bytes the process reads (an archive for `podman cp -`); ``timeout``: seconds after
    which the process is killed and the run fails (a question to a host that may hang)."""
    from plumbum import local

    argv = [str(a) for a in argv]
    command = _command(argv, hint)
    log_debug(argv)
    with local.cwd(cwd or local.cwd), local.env(**(env or {})), _opened(stdin) as source:
        process = command.popen(stdin=source)
        try:
            with _live(argv, process):
                out, err = cast(tuple[bytes, bytes], process.communicate(timeout=timeout))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            if check:
                raise CommandFailed(argv, -9, f"no answer within {timeout:g} s", hint=hint) from None
            return Result(argv, -9, "", f"no answer within {timeout:g} s")
        except BaseException:
            process.kill()
            process.wait()
            raise
        returncode = process.wait()
    stdout, stderr = out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")
    result = Result(argv, returncode, stdout, stderr)
    if check and returncode != 0:
        raise CommandFailed(argv, returncode, tail(stdout + stderr), hint=hint)
    return result


def run_to_file(argv: Sequence[str], out: Path, *, hint: str | None = None) -> None:
    """Run ``argv`` with its standard output written to ``out`` as bytes (an archive from
    `podman cp CONTAINER:PATH -`); a failure carries its standard error."""
    argv = [str(a) for a in argv]
    command = _command(argv, hint)
    log_debug(argv)
    with out.open("wb") as sink:
        process = command.popen(stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.PIPE)
        try:
            with _live(argv, process):
                _, err = cast(tuple[bytes, bytes], process.communicate())
        except BaseException:
            process.kill()
            process.wait()
            raise
    if process.returncode != 0:
        raise CommandFailed(argv, process.returncode, tail(err.decode("utf-8", "replace")), hint=hint)


def run_logged(argv: Sequence[str], log: Path, *, hint: str | None = None) -> None:
    """Run ``argv`` with its output (stdout and stderr, interleaved) appended to ``log`` as it
    comes, for long steps whose output is too big to hold. On failure, the error carries the
    log's last lines. Ctrl-C stops the process and propagates."""
    argv = [str(a) for a in argv]
    command = _command(argv, hint)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"+ {shlex.join(argv)}\n")
        out.flush()
        log_debug(argv)
        process = command.popen(stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            with _live(argv, process):
                returncode = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
    if returncode != 0:
        raise CommandFailed(argv, returncode, tail(log.read_text(errors="replace")), hint=hint)


class _opened:
    """``path`` opened for reading, or /dev/null."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.file: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes] | int:
        if self.path is None:
            return subprocess.DEVNULL
        self.file = self.path.open("rb")
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def log_debug(argv: Sequence[str]) -> None:
    log.debug("+ %s", shlex.join(argv))


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
