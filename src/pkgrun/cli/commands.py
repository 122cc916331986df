"""What each pkgrun command does: settings and arguments in, core calls, results to the console,
an exit code back. Parsing argv is cli.py's; drawing is console.py's; the work is the core's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from pkgrun.cli.console import Console
from pkgrun.cli.repo_commands import REPOSITORY_COMMANDS
from pkgrun.config.settings import Settings
from pkgrun.errors import EXIT_FAILURE, UsageError
from pkgrun.pipeline.preflight import engine_and_tools, preflight
from pkgrun.pipeline.scheduler import needs
from pkgrun.recipe.directory import find_recipes, load_recipes
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.targets import TARGETS, Target

Command = Callable[[argparse.Namespace, Settings, Console], int]


def _load(settings: Settings, names: Sequence[str] = (), *, scripts: bool = True) -> list[LoadedRecipe]:
    return load_recipes(settings.recipes, names, cache_dir=settings.cache_dir, scripts=scripts)


def cmd_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    target = settings.target(args.target)
    loaded = _load(settings, scripts=False)  # runs nothing: `check` lints the scripts
    published = _newest_published(settings, target)
    if args.json:
        console.json(
            [{**_recipe_json(item, target), "published": published.get(item.name)} for item in loaded]
        )
    else:
        console.recipes(loaded, target, settings.recipes, published)
    return 0


def _newest_published(settings: Settings, target: Target) -> dict[str, str]:
    """The newest published release of each package for ``target`` ("version-release"); the
    repository's metadata is read only when there is one."""
    if not any((settings.repo / target.dist).glob("*/repodata/repomd.xml")):
        return {}
    from pkgrun.repo.data import newest_releases

    return newest_releases(settings.repo, target.dist)


def cmd_check(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.install.competitors import losses

    loaded = _load(settings, args.recipe)
    console.checked(loaded)
    for loss in losses(settings.state_dir, loaded, [settings.target(name) for name in TARGETS]):
        console.warning(loss.text())
    return 0


def cmd_plan(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.pipeline.decide import release_for
    from pkgrun.pipeline.jobs import plan_of, run_options
    from pkgrun.pipeline.outcome import Mode, Request
    from pkgrun.repo.data import read_dist

    (loaded,) = _load(settings, [args.recipe], scripts=False)
    target = settings.target(args.target)
    request = Request(loaded, target, Mode.ALWAYS, version=args.version, iteration=args.iteration)
    plan = plan_of(request, settings, run_options(settings, 1))
    view = read_dist(settings.repo, target.dist)
    # the release the build would take: the recipe's, the next free one, or refused (exit 2)
    iteration, release = release_for(plan, view, explicit=args.iteration is not None, force=settings.force)
    plan = plan_of(request, settings, plan.options, iteration)
    needs = []
    for name in loaded.recipe.build.recipes:
        published = view.newest(name)
        needs.append(
            f"{name}: " + (f"the published {published.name}" if published else "built first (none published)")
        )
    nightly = _nightly_lines(plan, settings) if args.nightly else {}
    if args.json:
        console.json({**plan.to_json(), "needs": needs, "release": release, **nightly})
    else:
        console.plan(plan, needs, nightly, release)
    return 0


def _nightly_lines(plan: object, settings: Settings) -> dict[str, str]:
    """What the nightly job would do with the plan, and whether its build would compile, and
    why (--nightly only). No engine is asked: an image counts by what it is made from."""
    from pkgrun.errors import PkgrunError
    from pkgrun.pipeline.nightly import explain, explain_compile

    try:
        decision = explain(plan, settings.repo)  # type: ignore[arg-type]
        compile_line = explain_compile(plan, settings)  # type: ignore[arg-type]
    except PkgrunError as exc:
        return {"nightly": f"cannot tell ({exc.message})"}
    return {"nightly": f"{'build' if decision.build else 'skip'}: {decision.reason}", "compile": compile_line}


def cmd_build(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.pipeline.outcome import Mode, Request
    from pkgrun.pipeline.runner import run_builds
    from pkgrun.pipeline.scheduler import needed

    if len(args.recipe) != 1 and (args.version or args.iteration):
        raise UsageError(
            "--version and --iteration apply to one recipe at a time",
            hint="build the recipes one by one, or drop --version/--iteration",
        )
    # --target, else every target pkgrun.toml names (else el7)
    targets = [settings.target(name) for name in ([args.target] if args.target else settings.default_targets)]
    everything = {item.name: item for item in _all_named(settings, args.recipe)}
    requests = [
        Request(
            everything[name],
            target,
            Mode.ALWAYS if name in args.recipe else Mode.IF_MISSING,
            version=args.version if name in args.recipe else None,
            iteration=args.iteration if name in args.recipe else None,
        )
        for target in targets
        for name in needed(everything, dict.fromkeys(args.recipe))
    ]
    ready = preflight(settings, targets, console)
    with console.reporter() as reporter:
        run = run_builds(requests, ready.settings, ready.hosts, reporter, ready.key, down=ready.down)
    for outcome in run.outcomes:
        if outcome.status.value == "failed":
            console.build_failure(outcome)
    if args.json:
        console.json(
            {
                "built": [
                    {**o.result.to_json(), "host": o.host, "retried": o.retried}
                    for o in run.outcomes
                    if o.result is not None
                ],
                "published": [
                    {"nevra": p.nevra, "path": str(p.path), "action": p.action}
                    for o in run.outcomes
                    for p in o.published
                ],
                "skipped": [
                    {"name": o.recipe, "reason": o.reason}
                    for o in run.outcomes
                    if o.status.value == "skipped"
                ],
                "failed": [
                    {"name": o.recipe, "error": o.error or o.reason, "log": str(o.log) if o.log else None}
                    for o in run.outcomes
                    if o.status.value in ("failed", "blocked")
                ],
            }
        )
    else:
        console.built(run)
    return EXIT_FAILURE if run.exit_code else 0


def _all_named(settings: Settings, names: Sequence[str]) -> list[LoadedRecipe]:
    """The named recipes and every recipe they need, to build or at run time."""
    found = find_recipes(settings.recipes)
    wanted: list[str] = []
    todo = list(names)
    loaded: dict[str, LoadedRecipe] = {}
    while todo:
        batch = [n for n in dict.fromkeys(todo) if n not in loaded]
        todo = []
        for item in _load(settings, batch):
            loaded[item.name] = item
            wanted.append(item.name)
            todo += [d for d in needs(item) if d in found and d not in loaded]
    return [loaded[name] for name in wanted]


def cmd_nightly(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.pipeline.nightly import nightly_requests
    from pkgrun.pipeline.run_report import report_json, write_report
    from pkgrun.pipeline.runner import run_builds

    config = settings.config.nightly
    targets = [settings.target(name) for name in (args.target or config.targets)]
    settings = settings.but(keep=settings.keep or config.keep)
    recipes = _load(settings)
    ready = preflight(settings, targets, console)
    with console.reporter() as reporter:
        requests = nightly_requests(recipes, targets, ready.settings)
        run = run_builds(requests, ready.settings, ready.hosts, reporter, ready.key, down=ready.down)
    folder = write_report(run, args.reports or Path(config.reports), config.keep_reports)
    if args.json:
        console.json(report_json(run))
    else:
        console.nightly(run, folder / "report.html")
    return run.exit_code


def cmd_rebuild(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.build.cache import Identities
    from pkgrun.pipeline.rebuild import rebuild_published

    target = settings.target(args.target)
    loaded = _load(settings, args.recipe)
    engine = engine_and_tools(settings, console)
    identities = Identities()
    verdicts = []
    with console.reporter() as reporter:
        for item in loaded:
            verdicts.append(
                rebuild_published(
                    item, target, settings=settings, engine=engine, identities=identities, reporter=reporter
                )
            )
    if args.json:
        console.json([verdict.to_json() for verdict in verdicts])
    else:
        console.rebuilt(verdicts)
    return 0 if all(verdict.identical for verdict in verdicts) else EXIT_FAILURE


def cmd_fetch(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.build.plan import resolve_source
    from pkgrun.build.sources import fetch_source
    from pkgrun.cli.console import size

    loaded = _load(settings, args.recipe, scripts=False)
    if args.version and len(loaded) != 1:
        raise UsageError("--version applies to one recipe at a time", hint="name one recipe")
    target = settings.target(args.target)
    fetched = []
    with console.reporter() as reporter:
        for item in loaded:
            versions = (
                list(item.recipe.source.sha256)
                if args.all_versions
                else [args.version or item.recipe.default_version(target)]
            )
            for version in versions:
                source = resolve_source(item, version)
                with reporter.step(item.name, f"fetch {source.filename}"):
                    path = fetch_source(
                        source,
                        recipe=item.name,
                        cache_dir=settings.cache_dir,
                        mirrors=settings.mirrors,
                        pip=settings.pip,
                        max_bytes=settings.max_download,
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
        console.json(fetched)
    else:
        for row in fetched:
            console.line(f"{row['file']}  ({size(int(str(row['size'])))}, sha256 verified)")
    return 0


def _recipe_json(item: LoadedRecipe, target: Target) -> dict[str, object]:
    recipe = item.recipe
    pkg = recipe.package
    return {
        "name": pkg.name,
        "version": recipe.default_version(target),
        "versions": list(recipe.source.sha256),
        "epoch": pkg.epoch,
        "iteration": pkg.iteration,
        "arch": pkg.arch,
        "summary": pkg.summary,
        "source": {"url": recipe.source.url, "pypi": recipe.source.pypi},
        "requires": recipe.requires_for(target),
        "build_recipes": list(recipe.build.recipes),
        "target": target.name,
        "recipe": str(item.file),
    }


COMMANDS: dict[str, Command] = {
    **REPOSITORY_COMMANDS,
    "list": cmd_list,
    "check": cmd_check,
    "plan": cmd_plan,
    "build": cmd_build,
    "rebuild": cmd_rebuild,
    "fetch": cmd_fetch,
    "nightly": cmd_nightly,
}

__all__ = ["COMMANDS", "TARGETS"]
