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
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pkgrun import __version__
from pkgrun.errors import EXIT_FAILURE, PkgrunError, RecipeError
from pkgrun.plan import BuildPlan, make_plan
from pkgrun.recipe_dir import LoadedRecipe, load_recipes
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

    target_help = f"build target: {', '.join(TARGETS)} (default: {DEFAULT_TARGET})"

    list_ = command("list", "show the recipes as a table")
    list_.add_argument("--target", choices=TARGETS, default=DEFAULT_TARGET, help=target_help)
    list_.add_argument("--json", action="store_true", help="print JSON for scripts")

    check = command("check", "validate recipes and report every problem at once")
    check.add_argument("recipe", nargs="*", help="recipes to check (default: all)")

    plan = command("plan", "show everything a build would do, running nothing")
    plan.add_argument("recipe", help="the recipe to plan")
    plan.add_argument("--version", help="the version to build (default: the recipe's)")
    plan.add_argument("--iteration", help="the RPM release before the dist tag (default: the recipe's)")
    plan.add_argument("--target", choices=TARGETS, default=DEFAULT_TARGET, help=target_help)
    plan.add_argument(
        "--out", type=Path, default=Path("out"), metavar="DIR", help="where the RPM lands (default: ./out)"
    )
    plan.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel make jobs inside the build (default: the number of cores)",
    )
    plan.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage; 0 for --help
        return int(exc.code or 0)
    if args.recipes is None:
        args.recipes = Path(env.get("PKGRUN_RECIPES") or "recipes")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s")
    try:
        return COMMANDS[args.command](args, out, env)
    except RecipeError as exc:
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
        others = len(src.sha256) - 1
        version = pkg.version + (f" (+{others})" if others else "")
        url = src.url_for(pkg.name, pkg.version)
        origin = f"PyPI {src.pypi}" if url is None else urlsplit(url).netloc
        table.add_row(pkg.name, version, pkg.iteration, origin, " ".join(recipe.requires_for(target)) or "-")
    out.print(table)
    return 0


def cmd_check(args: argparse.Namespace, out: Console, env: Mapping[str, str]) -> int:
    loaded = load_recipes(args.recipes, args.recipe)
    for item in loaded:
        out.print(Text.assemble(("ok ", "green"), f"{item.name} ({item.file})"))
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
    if args.json:
        _print_json(plan.to_json())
    else:
        _print_plan(out, plan)
    return 0


COMMANDS = {"list": cmd_list, "check": cmd_check, "plan": cmd_plan}


# --- output -----------------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _recipe_json(item: LoadedRecipe, target: str) -> dict[str, Any]:
    recipe = item.recipe
    pkg = recipe.package
    return {
        "name": pkg.name,
        "version": pkg.version,
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
