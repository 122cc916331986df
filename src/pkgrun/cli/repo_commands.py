"""The commands about the repository and what ships: publish, repo (list, sign), serve, image,
key (init, show), sbom. Settings and arguments in, core calls, results to the console, an exit
code back.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pkgrun.cli.console import Console
from pkgrun.config.settings import Settings
from pkgrun.errors import UsageError
from pkgrun.pipeline.preflight import signing_key
from pkgrun.recipe.directory import load_recipes
from pkgrun.targets import Target

Command = Callable[[argparse.Namespace, Settings, Console], int]


def _publish_target(rpms: Sequence[Path], named: str | None, settings: Settings) -> Target:
    """The target RPMs are published for: --target, else the one their dist tag names (.el9),
    else the default; a dist tag of another target than --target's is refused."""
    from pkgrun.rpm.header import read_header
    from pkgrun.targets import TARGETS

    dists = {t.dist: t.name for t in TARGETS.values()}
    tagged = {rpm: dists.get(read_header(rpm).release.rsplit(".", 1)[-1]) for rpm in rpms}
    names = {name for name in tagged.values() if name}
    if named is None and len(names) == 1:
        return settings.target(names.pop())
    target = settings.target(named)
    if wrong := [rpm for rpm, name in tagged.items() if name and name != target.name]:
        raise UsageError(
            f"{', '.join(str(r) for r in wrong)}: built for {tagged[wrong[0]]} (its dist tag), not for "
            f"{target.name}",
            hint="nothing was published; name the target the RPMs were built for (--target), one target "
            "at a time",
        )
    return target


def cmd_publish(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.repo.publish import publish_rpms

    missing = [str(rpm) for rpm in args.rpm if not rpm.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}", hint="name built .rpm files")
    target, repo = _publish_target(args.rpm, args.target, settings), settings.repo
    settings, key = signing_key(settings, console, [target])
    with (
        console.reporter() as reporter,
        reporter.step("publish", f"{len(args.rpm)} RPM(s) into {repo / target.dist}"),
    ):
        result = publish_rpms(
            args.rpm,
            repo,
            target,
            records=settings.state_dir,
            reporter=reporter,
            force=settings.force,
            keep=settings.keep,
            key=key,
        )
    if args.json:
        console.json(
            {
                "published": [
                    {"nevra": p.nevra, "path": str(p.path), "action": p.action} for p in result.published
                ],
                "pruned": [str(p) for p in result.pruned],
                "signed": [str(p) for p in result.signed],
                "seconds": round(result.seconds, 3),
            }
        )
    else:
        console.published(result)
    return 0


def cmd_repo_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.repo.data import list_published

    rows = list_published(settings.repo)
    if args.target is not None:
        rows = [row for row in rows if row.dist == settings.target(args.target).dist]
    if args.json:
        console.json([row.to_json() for row in rows])
    else:
        console.repository(rows, settings.repo)
    return 0


def cmd_repo_sign(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.repo.publish import sign_repository

    target = settings.target(args.target)
    _, key = signing_key(settings.but(unsigned=False, publish=True), console, [target])
    assert key is not None
    with (
        console.reporter() as reporter,
        reporter.step("sign", f"{settings.repo / target.dist} with key {key.key_id}"),
    ):
        signed = sign_repository(
            settings.repo, target, key, records=settings.state_dir, reporter=reporter, dry_run=args.dry_run
        )
    if args.json:
        console.json({"key": key.fingerprint, "signed": [str(p) for p in signed], "dry_run": args.dry_run})
    elif args.dry_run:
        console.line(f"would sign {len(signed)} package(s) and the metadata of {settings.repo / target.dist}")
    else:
        console.line(f"signed {len(signed)} package(s) and the metadata of {settings.repo / target.dist}")
    return 0


def cmd_repo(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    return {"list": cmd_repo_list, "sign": cmd_repo_sign}[args.repo_command](args, settings, console)


def cmd_key(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.trust.signing import init_key, own_key, public_key, resolve_key

    existed = True
    if args.key_command == "init" and not settings.sign_key:
        existed = own_key(settings.state_dir) is not None
        key = init_key(settings.state_dir, args.user_id)
    else:  # show, or init where a key is configured: that key, which must be there
        found = resolve_key(settings.sign_key, settings.gnupg_home, settings.state_dir)
        if found is None:
            raise UsageError("no signing key yet", hint="make one: pkgrun key init")
        key = found
    text = public_key(key)
    where = f" in {key.gnupg_home}" if key.gnupg_home else ""
    if args.json:
        console.json(
            {"fingerprint": key.fingerprint, "gnupg_home": str(key.gnupg_home or ""), "public_key": text}
        )
    elif args.key_command == "init":
        done = "using the configured" if settings.sign_key else "kept the" if existed else "made a"
        console.line(f"{done} signing key {key.fingerprint}{where}")
        console.line("every publish signs with it; `pkgrun key show` prints its public part")
    else:
        console.line(f"signing key {key.fingerprint}{where}")
        console.line(
            "servers import its public part, published beside each repository as RPM-GPG-KEY-pkgrun:"
        )
        console.raw(text)
    return 0


def cmd_sbom(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.repo.sbom_lookup import find_sbom

    console.raw(find_sbom(args.package, settings.repo, settings.target(args.target)))
    return 0


def cmd_image(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.build.plan import Options, make_plan
    from pkgrun.install.runtime_image import PACKAGES, build_runtime_image, default_tag
    from pkgrun.pipeline.preflight import ready_engine

    target = settings.target(args.target)
    plans = [
        make_plan(item, target, out_dir=settings.out_dir, options=Options())
        for item in load_recipes(settings.recipes, PACKAGES, cache_dir=settings.cache_dir, scripts=False)
    ]
    engine = ready_engine(settings, console)
    tag = args.tag or default_tag(target)
    log = settings.logs / f"image-{target.dist}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with console.reporter() as reporter:
        image = build_runtime_image(
            engine, target, plans, repo_root=settings.repo, tag=tag, log=log, reporter=reporter
        )
    if args.json:
        console.json({"image": image.tag, "id": image.image_id, "packages": image.packages, "log": str(log)})
    else:
        console.line(f"built {image.tag} ({image.image_id[:19]}) from {', '.join(image.packages)}")
        console.line(f"run it: {engine.name} run --rm -p 127.0.0.1:8080:80 {image.tag}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from pkgrun.repo.layout import REPO_FILE
    from pkgrun.repo.serve import make_server

    repo = settings.repo
    if not repo.is_dir():
        raise UsageError(
            f"no repository at {repo}", hint="build and publish first (make rpms), or pass --repo DIR"
        )
    server = make_server(repo, args.bind, args.port, args.base_url)
    own = f"http://{server.site.own_address}"
    base = args.base_url or own
    console.line(f"serving {repo} at {own}/ (Ctrl-C stops)")
    for dist in sorted(p.name for p in repo.iterdir() if (p / REPO_FILE).is_file()):
        console.line(f"  yum-config-manager --add-repo {base.rstrip('/')}/{dist}/{REPO_FILE}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


REPOSITORY_COMMANDS: dict[str, Command] = {
    "publish": cmd_publish,
    "repo": cmd_repo,
    "serve": cmd_serve,
    "image": cmd_image,
    "key": cmd_key,
    "sbom": cmd_sbom,
}
