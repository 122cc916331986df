"""pkgrun's command line: argv in, settings resolved once, a command called, an exit code back.

Errors raised anywhere below are caught once, in ``main``, and shown by the console as message
and hint; a traceback only with --debug. Only the standard library and pkgrun's light modules
are imported before the command runs: `pkgrun --help` starts fast.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from pkgrun.cli.parser import build_parser
from pkgrun.errors import EXIT_FAILURE, PkgrunError
from pkgrun.recipe.reserved import COMMAND_NAMES

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 1  # what rich's console does when its reader has gone (Console.on_broken_pipe)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    argv = _expand_shorthand(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage; 0 for --help
        return int(exc.code or 0)
    from pkgrun.cli.console import Console

    console = Console()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s")
    # A job killed by a timeout or systemd gets SIGTERM: clean up as on Ctrl-C.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        from pkgrun.cli.commands import COMMANDS
        from pkgrun.config.settings import resolve

        settings = resolve(vars(args), env)
        return COMMANDS[args.command](args, settings, console)
    except PkgrunError as exc:
        console.error(exc)
        if args.debug:
            raise
        return exc.exit_code
    except KeyboardInterrupt:
        console.interrupted()
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `pkgrun ... --json | head`: the reader has gone; end quietly, as rich does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush: no second error
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        if args.debug:
            raise
        console.internal_error(exc)
        return EXIT_FAILURE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


_GLOBAL_OPTIONS_WITH_VALUE = {"--recipes", "--config"}


def _expand_shorthand(argv: list[str]) -> list[str]:
    """`pkgrun php --version 7.1.8` is `pkgrun build php --version 7.1.8`: a first positional
    word that is not a command is a recipe to build."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _GLOBAL_OPTIONS_WITH_VALUE:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            if word not in COMMAND_NAMES:
                return argv[:i] + ["build"] + argv[i:]
            return argv
    return argv


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
