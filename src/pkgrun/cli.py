"""pkgrun's command line: argv in, calls out, exit code back.

The only module that prints and the only one that knows about rich and exit codes. Errors
raised anywhere below are caught once, in ``main``, and shown as message + hint.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from pkgrun import __version__, buildcache
from pkgrun.build import BuildContext, BuildResult, Packager, build_recipe, choose_packager, default_log_path
from pkgrun.config import CONFIG_FILE, load_config
from pkgrun.container import EngineName, check_engine, detect_engine
from pkgrun.errors import EXIT_FAILURE, CommandFailed, PkgrunError, ProblemsError, UsageError
from pkgrun.install_test import InstallTestFailed
from pkgrun.lint import LINT_HINT, Finding
from pkgrun.nightly import (
    NightlySettings,
    cache_decision,
    explain,
    packager_identity,
    run_nightly,
    targets_of,
)
from pkgrun.plan import BuildPlan, make_plan, resolve_source
from pkgrun.recipe_dir import LoadedRecipe, load_recipes
from pkgrun.repo import REPO_FILE, Published, list_published, publish_rpms
from pkgrun.report import Advance
from pkgrun.run import find_tool
from pkgrun.run_report import report_json, write_report
from pkgrun.runtime_image import PACKAGES, build_runtime_image, default_tag
from pkgrun.serve import make_server
from pkgrun.sources import default_cache_dir, fetch_source
from pkgrun.targets import DEFAULT_TARGET, TARGETS, get_target

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    # The common options are accepted before and after the command; SUPPRESS keeps a
    # subcommand's unset option from overwriting the value given before it.
    def common(parser: argparse.ArgumentParser, default: Any) -> None:
        parser.add_argument(
            "--recipes",
            metavar="DIR",
            type=Path,
            default=default,
            help="directory of recipes (default: $PKGRUN_RECIPES or ./recipes)",
        )
        parser.add_argument(
            "--debug", action="store_true", default=default, help="show tracebacks and commands"
        )

    parser = argparse.ArgumentParser(
        prog="pkgrun",
        description="Build RPMs from per-component recipes and publish them into a yum repository.",
    )
    parser.add_argument("-V", "--pkgrun-version", action="version", version=f"pkgrun {__version__}")
    common(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        common(sub, argparse.SUPPRESS)
        return sub

    list_ = command("list", "show the recipes as a table")
    _target(list_)
    _json(list_)

    check = command("check", "validate recipes and report every problem at once")
    check.add_argument("recipe", nargs="*", help="recipes to check (default: all)")

    plan = command("plan", "show everything a build would do, running nothing")
    plan.add_argument("recipe", help="the recipe to plan")
    _version(plan)
    _target(plan)
    _out(plan)
    _make_jobs(plan)
    _json(plan)
    _repo(plan)
    _engine(plan)

    build = command("build", "build RPMs in disposable containers (`pkgrun RECIPE` is short for this)")
    build.add_argument("recipe", nargs="+", help="the recipes to build")
    _version(build)
    _target(build)
    _out(build)
    _engine(build)
    build.add_argument(
        "--packager",
        choices=[p.value for p in Packager],
        help="fpm where the build image carries it (el targets), else nfpm",
    )
    _make_jobs(build)
    _json(build)
    build.add_argument("--no-publish", action="store_true", help="leave the RPMs in --out, publish nothing")
    build.add_argument(
        "--no-install-test",
        action="store_true",
        help="skip the install test (install, upgrade, remove in a fresh container)",
    )
    build.add_argument("--no-lint", action="store_true", help="skip rpmlint")
    _sources(build)
    _publishing(build)

    publish = command("publish", "publish RPMs into the yum repository")
    publish.add_argument("rpm", nargs="+", type=Path, help="RPM files")
    _target(publish)
    _json(publish)
    _publishing(publish)

    repo = command("repo", "look at the yum repository")
    repo_commands = repo.add_subparsers(dest="repo_command", metavar="COMMAND", required=True)
    repo_list = repo_commands.add_parser("list", help="what is published: NEVRA, size, date")
    _repo(repo_list)
    _json(repo_list)

    nightly = command(
        "nightly", "rebuild what changed for every configured target, publish what passed, report"
    )
    nightly.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the project configuration (default: $PKGRUN_CONFIG, else ./pkgrun.toml)",
    )
    nightly.add_argument(
        "--target",
        action="append",
        choices=TARGETS,
        default=[],
        help="build for this target instead of the configured ones (repeatable)",
    )
    nightly.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="builds at once (default: [nightly] jobs, else the number of cores)",
    )
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
    _json(nightly, "print report.json")
    _sources(nightly)

    image = command("image", "build the runtime image (nginx, php-fpm, supervisor) from the published RPMs")
    _target(image)
    image.add_argument("--tag", help="the image's name (default: localhost/pkgrun-lnmp:DIST)")
    _repo(image)
    _engine(image)
    _json(image, "print JSON for scripts (the image reference)")

    serve = command("serve", "serve the repository over HTTP (Ctrl-C stops)")
    _repo(serve)
    serve.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8780, help="port (default: 8780; 0 picks a free one)")
    serve.add_argument(
        "--base-url",
        metavar="URL",
        help="the URL clients reach the server at, for the .repo files it answers "
        "(default: the Host the client asked for)",
    )

    fetch = command("fetch", "download and verify sources ahead of time, for offline builds")
    fetch.add_argument("recipe", nargs="*", help="recipes whose sources to fetch (default: all)")
    fetch.add_argument("--version", help="this version (one recipe only; default: the recipe's)")
    fetch.add_argument("--all-versions", action="store_true", help="every version with a checksum")
    _target(fetch, "fetch the versions this target builds by default")
    _json(fetch)
    _sources(fetch)
    return parser


# --- options several commands share ------------------------------------------------------------------


def _target(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default=DEFAULT_TARGET,
        help=help or f"build target: {', '.join(TARGETS)} (default: {DEFAULT_TARGET})",
    )


def _json(parser: argparse.ArgumentParser, help: str = "print JSON for scripts") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def _version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", help="the version to build (one recipe only; default: the recipe's)")
    parser.add_argument("--iteration", help="the RPM release before the dist tag (default: the recipe's)")


def _out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("out"), metavar="DIR", help="where the RPMs land (default: ./out)"
    )


def _make_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel make jobs inside the build (default: the number of cores)",
    )


def _engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=[e.value for e in EngineName],
        help="container engine (default: $PKGRUN_ENGINE, else podman if installed, else docker)",
    )


def _repo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo",
        type=Path,
        default=None,
        metavar="DIR",
        help="the yum repository (default: $PKGRUN_REPO, else ./repo)",
    )


def _publishing(parser: argparse.ArgumentParser) -> None:
    _repo(parser)
    parser.add_argument(
        "--keep",
        type=int,
        default=None,
        metavar="N",
        help="keep the newest N releases of each package (default: $PKGRUN_KEEP, else all)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a published package by a different file of the same NEVRA",
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


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    argv = _expand_shorthand(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage; 0 for --help
        return int(exc.code or 0)
    if args.recipes is None:
        args.recipes = Path(env.get("PKGRUN_RECIPES") or "recipes")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s")
    # A job killed by a timeout or systemd gets SIGTERM: clean up as on Ctrl-C.
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        return COMMANDS[args.command](args, out, env)
    except ProblemsError as exc:
        for problem in exc.problems:
            err.print(Text.assemble(("error: ", "bold red"), str(problem)))
            if problem.hint:
                err.print(Text.assemble(("  hint: ", "yellow"), problem.hint))
        _print_error(err, exc)
        if args.debug:
            raise
        return exc.exit_code
    except PkgrunError as exc:
        _print_error(err, exc)
        if args.debug:
            raise
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        err.print(Text.assemble(("internal error: ", "bold red"), f"{type(exc).__name__}: {exc}"))
        err.print(Text.assemble(("  hint: ", "yellow"), "run again with --debug for the traceback"))
        return EXIT_FAILURE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


_GLOBAL_OPTIONS_WITH_VALUE = {"--recipes"}


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
            if word not in COMMANDS:
                return argv[:i] + ["build"] + argv[i:]
            return argv
    return argv


def _print_error(console: Console, exc: PkgrunError) -> None:
    console.print(Text.assemble(("error: ", "bold red"), exc.message))
    if exc.hint:
        console.print(Text.assemble(("  hint: ", "yellow"), exc.hint))


# --- commands ---------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    target = get_target(args.target)
    loaded = load_recipes(args.recipes)
    if args.json:
        _print_json([_recipe_json(r, target.name) for r in loaded])
        return 0
    table = Table(
        title=f"recipes in {args.recipes} (dependencies for {target.name})",
        caption="(+N): N more versions with a checksum; `pkgrun list --json` lists them",
    )
    for column in ("name", "version", "iteration", "source"):
        table.add_column(column, no_wrap=True)
    table.add_column("dependencies", ratio=1, min_width=24)
    for item in loaded:
        recipe = item.recipe
        pkg, src = recipe.package, recipe.source
        default = recipe.default_version(target)
        others = len(src.sha256) - 1
        version = default + (f" (+{others})" if others else "")
        url = src.url_for(pkg.name, default)
        origin = f"PyPI {src.pypi}" if url is None else urlsplit(url).netloc
        table.add_row(pkg.name, version, pkg.iteration, origin, " ".join(recipe.requires_for(target)) or "-")
    out.print(table)
    return 0


def cmd_check(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    loaded = load_recipes(args.recipes, args.recipe, cache_dir=default_cache_dir(env))
    for item in loaded:
        out.print(Text.assemble(("ok ", "green"), f"{item.name} ({item.file})"))
        for warning in item.warnings:
            out.print(Text.assemble(("  warning: ", "yellow"), f"{warning.field}: {warning.message}"))
    out.print(f"{len(loaded)} recipe{'s' if len(loaded) != 1 else ''} valid")
    return 0


def cmd_plan(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    (loaded,) = load_recipes(args.recipes, [args.recipe])
    plan = make_plan(
        loaded,
        get_target(args.target),
        out_dir=args.out,
        jobs=args.jobs or os.cpu_count() or 1,
        version=args.version,
        iteration=args.iteration,
    )
    nightly = _nightly_decision(plan, args, env)
    if args.json:
        _print_json({**plan.to_json(), "nightly": nightly})
    else:
        _print_plan(out, plan)
        out.print(Text.assemble(("nightly job  ", "bold"), nightly))
    return 0


def _nightly_decision(plan: BuildPlan, args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """Would the nightly job build this plan, and why; best effort, since plan runs nothing."""
    try:
        engine = detect_engine(args.engine, env)
        decision = explain(plan, engine, _repo_dir(args, env))
    except PkgrunError as exc:
        return f"cannot tell ({exc.message})"
    return f"{'build' if decision.build else 'skip'}: {decision.reason}"


def _plans(args: argparse.Namespace, env: Mapping[str, str], names: Sequence[str]) -> list[BuildPlan]:
    """Plans for the named recipes; --version and --iteration only with one recipe."""
    if len(names) != 1 and (getattr(args, "version", None) or getattr(args, "iteration", None)):
        raise UsageError(
            "--version and --iteration apply to one recipe at a time",
            hint="build the recipes one by one, or drop --version/--iteration",
        )
    target = get_target(getattr(args, "target", DEFAULT_TARGET))
    return [
        make_plan(
            item,
            target,
            out_dir=getattr(args, "out", Path("out")),
            jobs=getattr(args, "jobs", None) or os.cpu_count() or 1,
            version=getattr(args, "version", None),
            iteration=getattr(args, "iteration", None),
        )
        for item in load_recipes(args.recipes, names)
    ]


def _mirrors(args: argparse.Namespace, env: Mapping[str, str]) -> list[str]:
    return list(args.mirror) + env.get("PKGRUN_MIRROR", "").split()


def cmd_build(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    plans = _plans(args, env, args.recipe)
    # Everything a build needs is checked before the first one starts.
    engine = detect_engine(args.engine, env)
    check_engine(engine)
    packagers = [choose_packager(args.packager, plan) for plan in plans]
    find_tool("rpm", hint="install rpm (Debian/Ubuntu: apt-get install rpm): pkgrun reads every RPM back")
    cache_dir = args.cache_dir or default_cache_dir(env)
    repo, keep = _repo_dir(args, env), _keep(args, env)
    if not args.no_publish:
        find_tool("createrepo_c", hint="createrepo_c comes with pkgrun's Python package: reinstall pkgrun")
    if not args.no_lint:
        find_tool("rpmlint", hint=LINT_HINT + ", or pass --no-lint")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    results: list[BuildResult] = []
    published: list[Published] = []
    failures: list[tuple[BuildPlan, PkgrunError, Path]] = []
    for plan, (packager, packager_path) in zip(plans, packagers, strict=True):
        ctx = BuildContext(
            plan=plan,
            engine=engine,
            packager=packager,
            packager_path=packager_path,
            out_dir=args.out,
            cache_dir=cache_dir,
            log=default_log_path(env, plan),
            mirrors=_mirrors(args, env),
            keep_container=env.get("PKGRUN_KEEP_CONTAINER") == "1",
            env=env,
            repo_root=repo,
            install_test=not args.no_install_test,
            lint=not args.no_lint,
        )
        with RichReporter(err) as reporter:
            try:
                result = build_recipe(ctx, reporter)
                results.append(result)
                if not args.no_publish:
                    # the inputs are recorded for the nightly job, which then need not build it again
                    identity = packager_identity(packager, packager_path)
                    inputs, _ = cache_decision(plan, engine, repo, identity, {})
                    builds = {
                        buildcache.key(plan): buildcache.entry(inputs, result.info.nevra, result.rpm.name)
                    }
                    with reporter.step(plan.name, f"publish into {repo / plan.target.dist}"):
                        published += publish_rpms(
                            [result.rpm],
                            repo,
                            plan.target,
                            reporter=reporter,
                            force=args.force,
                            keep=keep,
                            builds=builds,
                        ).published
            except PkgrunError as exc:
                failures.append((plan, exc, ctx.log))
        if failures and failures[-1][0] is plan:
            _print_failure(err, plan, failures[-1][1], ctx.log)
    if args.json:
        _print_json(
            {
                "built": [r.to_json() for r in results],
                "published": [{"nevra": p.nevra, "path": str(p.path), "action": p.action} for p in published],
                "failed": [{"name": p.name, "error": e.message, "log": str(log)} for p, e, log in failures],
            }
        )
    else:
        _print_results(out, results)
        for item in published:
            out.print(f"published {item.nevra}: {item.path} ({item.action})")
    return EXIT_FAILURE if failures else 0


def _repo_dir(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    return args.repo or Path(env.get("PKGRUN_REPO") or "repo")


def _keep(args: argparse.Namespace, env: Mapping[str, str]) -> int | None:
    keep = (
        args.keep if args.keep is not None else (int(env["PKGRUN_KEEP"]) if env.get("PKGRUN_KEEP") else None)
    )
    if keep is not None and keep < 1:
        raise UsageError(f"--keep {keep}: keep at least one release", hint="use --keep 1 or more")
    return keep


def cmd_publish(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    missing = [str(rpm) for rpm in args.rpm if not rpm.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}", hint="name built .rpm files")
    target, repo = get_target(args.target), _repo_dir(args, env)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with (
        RichReporter(err) as reporter,
        reporter.step("publish", f"{len(args.rpm)} RPM(s) into {repo / target.dist}"),
    ):
        result = publish_rpms(
            args.rpm, repo, target, reporter=reporter, force=args.force, keep=_keep(args, env)
        )
    if args.json:
        _print_json(
            {
                "published": [
                    {"nevra": p.nevra, "path": str(p.path), "action": p.action} for p in result.published
                ],
                "pruned": [str(p) for p in result.pruned],
                "seconds": round(result.seconds, 3),
            }
        )
    else:
        for item in result.published:
            out.print(f"{item.action} {item.nevra}: {item.path}")
        for path in result.pruned:
            out.print(f"pruned {path}")
    return 0


def cmd_repo(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    rows = list_published(_repo_dir(args, env))
    if args.json:
        _print_json([row.to_json() for row in rows])
        return 0
    table = Table(title=f"published in {_repo_dir(args, env)}")
    for column in ("dist", "NEVRA", "size", "built"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row.dist, row.nevra, _size(row.size), row.built.strftime("%Y-%m-%d %H:%M"))
    out.print(table if rows else f"nothing published in {_repo_dir(args, env)}")
    return 0


def cmd_nightly(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    config = load_config(args.config or Path(env.get("PKGRUN_CONFIG") or CONFIG_FILE))
    targets = targets_of(args.target or config.nightly.targets)
    engine = detect_engine(args.engine, env)
    check_engine(engine)
    for tool, hint in (("rpm", "install rpm"), ("rpmlint", LINT_HINT), ("createrepo_c", "reinstall pkgrun")):
        find_tool(tool, hint=hint)
    settings = NightlySettings(
        recipes=load_recipes(args.recipes),
        targets=targets,
        config=config,
        engine=engine,
        repo=_repo_dir(args, env),
        out_dir=args.out,
        cache_dir=args.cache_dir or default_cache_dir(env),
        mirrors=_mirrors(args, env),
        jobs=args.jobs or config.nightly.jobs or os.cpu_count() or 1,
        env=env,
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with RichReporter(err) as reporter:
        result = run_nightly(settings, reporter)
    folder = write_report(result, args.reports or Path(config.nightly.reports), config.nightly.keep_reports)
    if args.json:
        _print_json(report_json(result))
    else:
        table = Table(title=f"nightly: {result.seconds:.1f} s")
        for column in ("status", "recipe", "target", "package", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("why", ratio=1, min_width=20)
        colours = {"built": "green", "skipped": "dim", "failed": "red", "blocked": "yellow"}
        for o in result.outcomes:
            table.add_row(
                Text(o.status.value, style=colours[o.status.value]),
                o.recipe,
                o.target,
                o.nevra or "",
                f"{o.seconds:.1f}s",
                o.error or o.reason,
            )
        out.print(table)
        out.print(f"report: {folder / 'report.html'}")
    return result.exit_code


def cmd_image(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    target = get_target(args.target)
    plans = [
        make_plan(item, target, out_dir=Path("out"), jobs=1) for item in load_recipes(args.recipes, PACKAGES)
    ]
    engine = detect_engine(args.engine, env)
    check_engine(engine)
    tag = args.tag or default_tag(target)
    log = default_log_path(env, plans[0]).with_name(
        f"image-{target.dist}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with RichReporter(err) as reporter:
        image = build_runtime_image(
            engine, target, plans, repo_root=_repo_dir(args, env), tag=tag, log=log, reporter=reporter
        )
    if args.json:
        _print_json({"image": image.tag, "id": image.image_id, "packages": image.packages, "log": str(log)})
    else:
        out.print(f"built {image.tag} ({image.image_id[:19]}) from {', '.join(image.packages)}")
        out.print(f"run it: {engine.name} run --rm -p 127.0.0.1:8080:80 {image.tag}")
    return 0


def cmd_serve(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    repo = _repo_dir(args, env)
    if not repo.is_dir():
        raise UsageError(
            f"no repository at {repo}", hint="build and publish first (make rpms), or pass --repo DIR"
        )
    server = make_server(repo, args.bind, args.port, args.base_url)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    out.print(f"serving {repo} at http://{host}:{port}/ (Ctrl-C stops)")
    for dist in sorted(p.name for p in repo.iterdir() if (p / REPO_FILE).is_file()):
        out.print(f"  yum-config-manager --add-repo http://{host}:{port}/{dist}/{REPO_FILE}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def cmd_fetch(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    loaded = load_recipes(args.recipes, args.recipe)
    if args.version and len(loaded) != 1:
        raise UsageError("--version applies to one recipe at a time", hint="name one recipe")
    cache_dir = args.cache_dir or default_cache_dir(env)
    fetched = []
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with RichReporter(err) as reporter:
        for item in loaded:
            versions = (
                list(item.recipe.source.sha256)
                if args.all_versions
                else [args.version or item.recipe.package.version]
            )
            for version in versions:
                source = resolve_source(item, version)
                with reporter.step(item.name, f"fetch {source.filename}"):
                    path = fetch_source(
                        source,
                        recipe=item.name,
                        cache_dir=cache_dir,
                        mirrors=_mirrors(args, env),
                        env=env,
                        reporter=reporter,
                    )
                fetched.append(
                    {
                        "name": item.name,
                        "version": version,
                        "file": str(path),
                        "sha256": source.sha256,
                        "size": path.stat().st_size,
                    }
                )
    if args.json:
        _print_json(fetched)
    else:
        for row in fetched:
            out.print(f"{row['file']}  ({_size(int(str(row['size'])))}, sha256 verified)")
    return 0


COMMANDS = {
    "list": cmd_list,
    "publish": cmd_publish,
    "repo": cmd_repo,
    "serve": cmd_serve,
    "image": cmd_image,
    "nightly": cmd_nightly,
    "check": cmd_check,
    "plan": cmd_plan,
    "build": cmd_build,
    "fetch": cmd_fetch,
}


# --- progress ---------------------------------------------------------------------------------------


class _DownloadOnly(ProgressColumn):
    """A column shown for downloads only: a step has no bytes to count."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> RenderableType:
        return self.inner.render(task) if task.fields.get("download") else Text("")


class RichReporter:
    """Steps with their elapsed time: a live view on a terminal, plain lines elsewhere (CI, logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.bars = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            _DownloadOnly(BarColumn(bar_width=20)),
            _DownloadOnly(DownloadColumn()),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> RichReporter:
        if self.live:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.bars.stop()

    @contextmanager
    def step(self, recipe: str, name: str) -> Iterator[None]:
        label = f"{recipe}: {name}"
        started = time.monotonic()
        task = self.bars.add_task(label, total=None) if self.live else None
        if not self.live:
            self.console.print(f"{label} ...")
        try:
            yield
        except BaseException:
            if task is not None:
                self.bars.update(task, description=f"[red]{label} (failed)")
                self.bars.stop_task(task)
            else:
                self.console.print(f"{label}: failed after {time.monotonic() - started:.1f}s")
            raise
        if task is not None:
            self.bars.update(task, total=1, completed=1)
            self.bars.stop_task(task)
        else:
            self.console.print(f"{label}: done in {time.monotonic() - started:.1f}s")

    def progress(self, recipe: str, name: str, total: int | None) -> Advance:
        if not self.live:
            return lambda n: None
        task = self.bars.add_task(f"{recipe}: {name}", total=total, download=True)
        return lambda n: self.bars.advance(task, n)

    def note(self, recipe: str, message: str) -> None:
        self.console.print(Text(f"{recipe}: {message}", style="dim"))


# --- output -----------------------------------------------------------------------------------------


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _print_results(out: Console, results: Sequence[BuildResult]) -> None:
    if not results:
        return
    table = Table(title="built")
    for column in ("NEVRA", "size", "files", "time"):
        table.add_column(column, no_wrap=True)
    table.add_column("requires", min_width=20, ratio=1)
    for r in results:
        requires = " ".join(r.info.requires) or "-"
        table.add_row(r.info.nevra, _size(r.info.size), str(len(r.info.files)), f"{r.seconds:.0f}s", requires)
    out.print(table)
    for r in results:
        if r.lint is not None:
            out.print(Text(f"rpmlint {r.info.nevra}: {r.lint.summary()}", style="bold"))
            for line in _grouped(r.lint.findings):
                out.print(Text(f"  {line}", style="dim"))
        if r.install_test is not None:
            upgraded = (
                f", upgraded from {r.install_test.upgraded_from}" if r.install_test.upgraded_from else ""
            )
            out.print(f"install test {r.info.nevra}: {len(r.install_test.steps)} steps passed{upgraded}")
    for r in results:
        out.print(str(r.rpm))


def _grouped(findings: Sequence[Finding]) -> list[str]:
    """One line per check: level, check, count and the first details."""
    by_check: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        by_check.setdefault((f.level, f.check), []).append(f.detail)
    lines = []
    for (level, check), details in sorted(by_check.items()):
        shown = "; ".join(d for d in details[:2] if d)
        more = f" (+{len(details) - 2} more)" if len(details) > 2 else ""
        lines.append(f"{level}: {check} x{len(details)}: {shown}{more}".rstrip(": "))
    return lines


def _print_failure(console: Console, plan: BuildPlan, exc: PkgrunError, log: Path) -> None:
    console.print(Text.assemble(("error: ", "bold red"), f"{plan.name}: {exc.message}"))
    if isinstance(exc, InstallTestFailed):
        console.print(Text(f"  step: {exc.step}", style="yellow"))
        console.print(Text("  output:", style="yellow"))
        for line in exc.output.splitlines()[-20:]:
            console.print(Text(f"    {line}"))
    elif isinstance(exc, CommandFailed) and exc.output:
        console.print(Text(f"  last lines of {log}:", style="yellow"))
        for line in exc.output.splitlines()[-15:]:
            console.print(Text(f"    {line}"))
    if exc.hint:
        console.print(Text.assemble(("  hint: ", "yellow"), exc.hint))
    console.print(Text(f"  full log: {log}", style="yellow"))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _recipe_json(item: LoadedRecipe, target: str) -> dict[str, Any]:
    recipe = item.recipe
    pkg = recipe.package
    return {
        "name": pkg.name,
        "version": recipe.default_version(TARGETS[target]),
        "versions": list(recipe.source.sha256),
        "epoch": pkg.epoch,
        "iteration": pkg.iteration,
        "arch": pkg.arch,
        "summary": pkg.summary,
        "source": {"url": recipe.source.url, "pypi": recipe.source.pypi},
        "requires": recipe.requires_for(TARGETS[target]),
        "target": target,
        "recipe": str(item.file),
    }


def _print_plan(out: Console, plan: BuildPlan) -> None:
    data = plan.to_json()
    target = plan.target
    out.print(Text(f"{plan.nevra} for {target.name} ({target.description})", style="bold"))
    rows = [
        ("recipe", data["recipe"]),
        ("source", plan.source.url or f"PyPI project {plan.source.pypi} ({plan.source.filename})"),
        ("sha256", plan.source.sha256),
        (
            "image",
            f"{target.base_image} + build requirements ({target.family.value}): "
            + (" ".join(plan.build_requires) or "none"),
        ),
        ("requires", ", ".join(plan.requires) or "none"),
        ("build env", " ".join(f"{k}={shlex.quote(v)}" for k, v in plan.build_env.items())),
        ("rpm", str(plan.rpm)),
    ]
    for key, value in rows:
        out.print(Text.assemble((f"  {key:<10}", "cyan"), value))
    out.print(Text("steps", style="bold"))
    for number, step in enumerate(plan.steps, 1):
        out.print(Text(f"  {number}. {step}"))
    out.print(Text("fpm command", style="bold"))
    out.print(Text(f"  {shlex.join(plan.fpm_argv)}"))


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
