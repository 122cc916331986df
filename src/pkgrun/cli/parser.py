"""The command line's grammar: every command, its arguments and options, and their help.

``build_parser`` only assembles: one small function per command (or command group), built from
the option groups several commands share, so one option reads the same wherever it appears.
Only the standard library and pkgrun's light modules are imported here: `pkgrun --help` starts fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeAlias

from pkgrun import __version__
from pkgrun.numerals import number
from pkgrun.targets import DEFAULT_TARGET, TARGETS, Packager

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pkgrun",
        description="Build RPMs from per-component recipes and publish them into a yum repository.",
    )
    parser.add_argument("-V", "--pkgrun-version", action="version", version=f"pkgrun {__version__}")
    _common(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # the order here is the order `pkgrun --help` lists them in
    _add_list(commands)
    _add_check(commands)
    _add_plan(commands)
    _add_build(commands)
    _add_publish(commands)
    _add_repo(commands)
    _add_key(commands)
    _add_sbom(commands)
    _add_rebuild(commands)
    _add_nightly(commands)
    _add_image(commands)
    _add_serve(commands)
    _add_fetch(commands)
    return parser


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    """The common options are accepted before and after the command; SUPPRESS keeps a
    subcommand's unset option from overwriting the value given before it."""
    parser.add_argument(
        "--recipes",
        metavar="DIR",
        type=Path,
        default=default,
        help="directory of recipes (default: $PKGRUN_RECIPES or ./recipes)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=default,
        help="the project configuration (default: $PKGRUN_CONFIG, else ./pkgrun.toml)",
    )
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks and commands")


def _command(commands: Commands, name: str, help: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help, description=help)
    _common(sub, argparse.SUPPRESS)
    return sub


# --- the commands, in the order of `pkgrun --help` ----------------------------------------------------


def _add_list(commands: Commands) -> None:
    list_ = _command(
        commands, "list", "show the recipes as a table, with the newest release published of each"
    )
    _target(list_)
    _repo(list_)
    _json(list_)


def _add_check(commands: Commands) -> None:
    check = _command(commands, "check", "validate recipes and report every problem at once")
    check.add_argument("recipe", nargs="*", help="recipes to check (default: all)")


def _add_plan(commands: Commands) -> None:
    plan = _command(commands, "plan", "show everything a build would do, running nothing")
    plan.add_argument("recipe", help="the recipe to plan")
    _what_to_build(plan)
    _jobs(plan)
    _packager(plan)
    _steps(plan)
    _signing(plan)
    _json(plan)
    _repo(plan)
    _force(plan)  # the plan of a build with --force: the published release replaced
    _engine(plan)
    plan.add_argument(
        "--nightly",
        action="store_true",
        help="also say what the nightly job would do with it (asks the engine for the build image)",
    )


def _add_build(commands: Commands) -> None:
    build = _command(
        commands, "build", "build RPMs in disposable containers (`pkgrun RECIPE` is short for this)"
    )
    build.add_argument(
        "recipe", nargs="+", help="the recipes to build (and what they need, if not published)"
    )
    _what_to_build(build)
    _engine(build)
    _packager(build)
    _jobs(build)
    _builds(build)
    _hosts(build)
    _json(build)
    _steps(build)
    _sources(build)
    _publishing(build)


def _add_publish(commands: Commands) -> None:
    publish = _command(commands, "publish", "publish RPMs into the yum repository")
    publish.add_argument("rpm", nargs="+", type=Path, help="RPM files")
    _target(publish)
    _json(publish)
    _publishing(publish)


def _add_repo(commands: Commands) -> None:
    repo = _command(commands, "repo", "look at the yum repository")
    repo_commands = repo.add_subparsers(dest="repo_command", metavar="COMMAND", required=True)
    repo_list = repo_commands.add_parser("list", help="what is published: NEVRA, size, date, SBOM")
    _repo(repo_list)
    repo_list.add_argument(
        "--target", choices=TARGETS, help="only this target's packages (default: every target's)"
    )
    _json(repo_list)
    repo_sign = repo_commands.add_parser(
        "sign",
        help="sign every package not signed with the key yet, and the metadata (idempotent): only "
        "packages pkgrun published, each named first",
    )
    repo_sign.add_argument(
        "--dry-run",
        action="store_true",
        help="name what would be signed, and what refuses it; change nothing",
    )
    _target(repo_sign)
    _repo(repo_sign)
    _signing(repo_sign, unsigned=False)
    _json(repo_sign)


def _add_key(commands: Commands) -> None:
    key = _command(commands, "key", "the key that signs packages and metadata")
    key_commands = key.add_subparsers(dest="key_command", metavar="COMMAND", required=True)
    key_init = key_commands.add_parser("init", help="make pkgrun's own signing key (once; idempotent)")
    key_init.add_argument(
        "--user-id",
        default="pkgrun signing key <pkgrun@localhost>",
        help="the key's user ID (default: %(default)s)",
    )
    _json(key_init)
    key_show = key_commands.add_parser("show", help="the key in use and its public part")
    _signing(key_show, unsigned=False)
    _json(key_show)


def _add_sbom(commands: Commands) -> None:
    sbom = _command(commands, "sbom", "print the SBOM (CycloneDX JSON) of a package")
    sbom.add_argument("package", metavar="NEVRA|NAME|FILE", help="a published package, or an RPM file")
    _target(sbom)
    _repo(sbom)


def _add_rebuild(commands: Commands) -> None:
    rebuild = _command(
        commands,
        "rebuild",
        "rebuild published packages from their recorded inputs and say identical or different",
    )
    rebuild.add_argument("recipe", nargs="+", help="the recipes whose newest published package to rebuild")
    _target(rebuild)
    _engine(rebuild)
    _repo(rebuild)
    _jobs(rebuild)
    _sources(rebuild)
    _json(rebuild)


def _add_nightly(commands: Commands) -> None:
    nightly = _command(
        commands, "nightly", "rebuild what changed for every configured target, publish what passed, report"
    )
    nightly.add_argument(
        "--target",
        action="append",
        choices=TARGETS,
        default=[],
        help="build for this target instead of the configured ones (repeatable)",
    )
    _builds(nightly)
    _hosts(nightly)
    _jobs(nightly)
    _engine(nightly)
    _out(nightly)
    nightly.add_argument(
        "--reports",
        type=Path,
        default=None,
        metavar="DIR",
        help="report folders (default: [nightly] reports)",
    )
    _repo(nightly)
    _signing(nightly)
    nightly.add_argument(
        "--verify-skipped",
        action="store_true",
        default=None,
        help="rebuild what is skipped as unchanged and check it is identical to what is published "
        "(default: [nightly] verify-skipped)",
    )
    _json(nightly, "print report.json")
    _sources(nightly)


def _add_image(commands: Commands) -> None:
    image = _command(
        commands, "image", "build the runtime image (nginx, php-fpm, supervisor) from the published RPMs"
    )
    _target(image)
    image.add_argument("--tag", help="the image's name (default: localhost/pkgrun-lnmp:DIST)")
    _repo(image)
    _engine(image)
    _json(image, "print JSON for scripts (the image reference)")


def _add_serve(commands: Commands) -> None:
    serve = _command(commands, "serve", "serve the repository over HTTP (Ctrl-C stops)")
    _repo(serve)
    serve.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8780, help="port (default: 8780; 0 picks a free one)")
    serve.add_argument(
        "--base-url",
        metavar="URL",
        help="the URL clients reach the server at, for the .repo files it answers "
        "(default: the Host the client asked for)",
    )


def _add_fetch(commands: Commands) -> None:
    fetch = _command(commands, "fetch", "download and verify sources ahead of time, for offline builds")
    fetch.add_argument("recipe", nargs="*", help="recipes whose sources to fetch (default: all)")
    fetch.add_argument("--version", help="this version (one recipe only; default: the recipe's)")
    fetch.add_argument("--all-versions", action="store_true", help="every version with a checksum")
    _target(fetch, "fetch the versions this target builds by default")
    _json(fetch)
    _sources(fetch)


# --- options several commands share ------------------------------------------------------------------


def _what_to_build(parser: argparse.ArgumentParser) -> None:
    """What build and plan both take first: the version, the target, where the RPMs land."""
    _version(parser)
    _target(parser)
    _out(parser)


def _target(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument(
        "--target",
        choices=TARGETS,
        help=help
        or f"build target: {', '.join(TARGETS)} (default: the first of pkgrun.toml's [nightly] targets "
        f"when it names them, else {DEFAULT_TARGET})",
    )


def _json(parser: argparse.ArgumentParser, help: str = "print JSON for scripts") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def _version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", help="the version to build (one recipe only; default: the recipe's)")
    parser.add_argument("--iteration", help="the RPM release before the dist tag (default: the recipe's)")


def _count(text: str) -> int:
    """An option's count: 1 or more, in ASCII digits (argparse names the option)."""
    value = number(text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"give a number, 1 or more, not {text!r}")
    return value


def _port(text: str) -> int:
    value = number(text)
    if value is None or value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0 picks a free one), not {text!r}")
    return value


def _out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, metavar="DIR", help="where the RPMs land (default: ./out)")


def _jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=_count,
        metavar="N",
        help="make -j inside each build, $PKGRUN_JOBS for its build script (default: the cores, "
        "shared between the builds that run at once)",
    )
    parser.add_argument(
        "--recompile",
        action="store_true",
        help="compile from source even when the compile cache holds a compile of the same inputs",
    )


def _builds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--builds",
        type=_count,
        metavar="N",
        help="builds at once (default: [nightly] builds, else about the square root of the cores)",
    )


def _hosts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        action="append",
        metavar="NAME",
        help="build on this [[hosts]] entry of pkgrun.toml (repeat for several; 'local': this "
        "machine's engine; default: every configured host, else the local engine)",
    )


def _packager(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--packager",
        choices=[p.value for p in Packager],
        help="fpm where the build image carries it (el targets), else nfpm",
    )


def _steps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-publish", action="store_true", help="leave the RPMs in --out, publish nothing")
    parser.add_argument(
        "--no-install-test",
        action="store_true",
        help="skip the install test (install, upgrade, remove in a fresh container)",
    )
    parser.add_argument("--no-lint", action="store_true", help="skip rpmlint")


def _engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=["podman", "docker"],
        help="container engine (default: $PKGRUN_ENGINE, else podman if installed, else docker)",
    )


def _repo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", type=Path, metavar="DIR", help="the yum repository (default: $PKGRUN_REPO, else ./repo)"
    )


def _publishing(parser: argparse.ArgumentParser) -> None:
    _repo(parser)
    _signing(parser)
    parser.add_argument(
        "--keep",
        type=_count,
        metavar="N",
        help="keep the newest N releases of each package (default: $PKGRUN_KEEP, else all)",
    )
    _force(parser)


def _force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a published package by a different file of the same NEVRA",
    )


def _signing(parser: argparse.ArgumentParser, unsigned: bool = True) -> None:
    parser.add_argument(
        "--sign-key",
        metavar="KEY",
        help="the GnuPG key that signs (default: $PKGRUN_SIGN_KEY, [sign] key, else pkgrun's own)",
    )
    if unsigned:
        parser.add_argument(
            "--unsigned",
            action="store_true",
            help="publish unsigned packages and metadata (clients then need gpgcheck=0)",
        )


def _sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="DIR|URL",
        help="look for source files here first, by their upstream name (repeatable; "
        "also $PKGRUN_MIRROR, space-separated)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="source cache (default: $PKGRUN_CACHE_DIR, else $XDG_CACHE_HOME/pkgrun)",
    )
