"""pkgrun's benchmarks. Prints figures; asserts nothing about time.

- build:   `pkgrun nginx --target local` against the same container and packager steps run by
           hand (the same commands, one after the other, with nothing around them);
- publish: publishing 1 RPM into a repository of 2,000 small RPMs, incrementally, against a
           full createrepo_c of the same packages;
- nightly: a warm no-op nightly of the three seed recipes, and a cold nightly's wall time
           against the sum of the same builds one by one;
- sign:    the time signing adds to publishing (packages and repomd.xml), and the SBOM's size;
- reproducible: php (and nginx, supervisor) built twice in fresh containers, unsigned: the
           digests of both builds, and whether they are the same bytes.

Signing uses a throwaway key made for the run.

Usage: python scripts/bench.py --mirror DIR [--only build|publish|nightly|sign|reproducible] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pkgrun.build import hook_texts, stage_argv, unpack_argv
from pkgrun.container import detect_engine, host_ulimits
from pkgrun.images import base_image_tag, build_image_tag
from pkgrun.nfpm import fpm_style_scripts, nfpm_config
from pkgrun.plan import (
    CONTAINER_DESTDIR,
    CONTAINER_NFPM,
    CONTAINER_OUT_DIR,
    CONTAINER_RECIPE_DIR,
    CONTAINER_SOURCE_DIR,
    CONTAINER_SRCDIR,
    CONTAINER_WORKDIR,
    Options,
    make_plan,
)
from pkgrun.recipe_dir import load_recipes
from pkgrun.run import find_tool
from pkgrun.settings import resolve
from pkgrun.staging import expand_directories, find_argv, owned_directories, parse_listing
from pkgrun.targets import TARGETS

PROJECT = Path(__file__).resolve().parent.parent


def by_hand(plan, engine: str, image: str, source: Path, nfpm: str, out: Path) -> float:  # type: ignore[no-untyped-def]
    """The build's container and packager steps, as a person would type them (bind mounts)."""
    started = time.monotonic()
    tools = Path(tempfile.mkdtemp(dir=out))
    name = f"bench-by-hand-{os.getpid()}"
    mounts = [
        (plan.loaded.directory.resolve(), CONTAINER_RECIPE_DIR, True),
        (source, f"{CONTAINER_SOURCE_DIR}/{plan.source.filename}", True),
        (tools, "/pkgrun/tools", True),
        (out.resolve(), CONTAINER_OUT_DIR, False),
        (Path(nfpm), CONTAINER_NFPM, True),
    ]
    limits = [flag for value in host_ulimits() for flag in ("--ulimit", value)]

    def sh(*argv: str) -> str:
        return subprocess.run([engine, *argv], check=True, capture_output=True, text=True).stdout

    def exec_(*command: str, workdir: str | None = None, env: dict[str, str] | None = None) -> str:
        flags = [f for k, v in (env or {}).items() for f in ("--env", f"{k}={v}")]
        return sh("exec", *flags, *(["--workdir", workdir] if workdir else []), name, *command)

    try:
        mount_flags = [
            f
            for src, dst, ro in mounts
            for f in ("--mount", f"type=bind,source={src},target={dst}" + (",readonly" if ro else ""))
        ]
        sh(
            "run",
            "--detach",
            "--name",
            name,
            "--network=none",
            *limits,
            *mount_flags,
            "--entrypoint",
            "sleep",
            image,
            "infinity",
        )
        exec_("mkdir", "-p", CONTAINER_SRCDIR, CONTAINER_DESTDIR, CONTAINER_WORKDIR)
        exec_(*unpack_argv(plan))
        exec_(
            "bash",
            "-euo",
            "pipefail",
            f"{CONTAINER_RECIPE_DIR}/build.sh",
            workdir=CONTAINER_SRCDIR,
            env=plan.build_env,
        )
        exec_(*stage_argv(plan))
        entries = parse_listing(
            exec_(*find_argv(CONTAINER_DESTDIR, ["etc", "usr"]), workdir=CONTAINER_DESTDIR)
        )
        dirs = expand_directories(plan.loaded.recipe.files.directories, entries)
        scripts = {}
        for key, text in fpm_style_scripts(hook_texts(plan)).items():
            (tools / key).write_text(text)
            scripts[key] = f"/pkgrun/tools/{key}"
        config = nfpm_config(
            plan.nfpm_config,
            plan.loaded.recipe.files.config,
            entries,
            owned_directories(dirs, entries),
            staging=CONTAINER_DESTDIR,
            scripts=scripts,
        )
        (tools / "nfpm.yaml").write_text(json.dumps(config))
        exec_(
            CONTAINER_NFPM,
            "package",
            "--config",
            "/pkgrun/tools/nfpm.yaml",
            "--packager",
            "rpm",
            "--target",
            f"{CONTAINER_OUT_DIR}/{plan.rpm.name}",
        )
    finally:
        subprocess.run([engine, "rm", "--force", name], capture_output=True)
    return time.monotonic() - started


def bench_publish(count: int = 2000, size: int = 0) -> None:
    sys.path.insert(0, str(PROJECT / "tests"))
    from helpers import make_rpm
    from pkgrun.repo import publish_rpms
    from pkgrun.report import NullReporter
    from pkgrun.targets import TARGETS

    with tempfile.TemporaryDirectory() as tmp:
        rpms_dir = Path(tmp) / "rpms"
        started = time.monotonic()
        rpms = [make_rpm(rpms_dir, f"pkg{i:04d}", size=size) for i in range(count)]
        made = time.monotonic() - started
        repo = Path(tmp) / "repo"
        started = time.monotonic()
        publish_rpms(rpms, repo, TARGETS["local"], reporter=NullReporter())
        first = time.monotonic() - started
        incremental = []
        for run in range(3):
            one = make_rpm(Path(tmp) / f"extra{run}", f"newcomer{run}")
            started = time.monotonic()
            publish_rpms([one], repo, TARGETS["local"], reporter=NullReporter())
            incremental.append(time.monotonic() - started)
        arch_dir = repo / "local" / "x86_64"
        full = []
        for _ in range(3):
            out = Path(tmp) / f"full-{len(full)}"
            out.mkdir()
            started = time.monotonic()
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "createrepo_c"),
                    "--quiet",
                    "--no-database",
                    "--general-compress-type",
                    "gz",
                    "--outputdir",
                    str(out),
                    str(arch_dir),
                ],
                check=True,
            )
            full.append(time.monotonic() - started)
    inc, ful = statistics.median(incremental), statistics.median(full)
    what = f"{size // 1048576} MiB" if size else "small"
    print(f"publish into a repository of {count} {what} RPMs (made in {made:.1f} s)")
    print(f"  first publish of all {count}:           {first:.2f} s")
    print(f"  publish 1 more, incremental (median of 3): {inc:.2f} s")
    print(f"  full createrepo_c of the same (median of 3): {ful:.2f} s")
    print(f"  incremental / full:                    {inc / ful:.2f}")


def signing_env() -> dict[str, str]:
    """The environment that signs with a throwaway key (the tests' helper)."""
    sys.path.insert(0, str(PROJECT / "tests"))
    from helpers import key_env

    return key_env()


def bench_sign(count: int = 50) -> None:
    sys.path.insert(0, str(PROJECT / "tests"))
    from helpers import make_rpm, session_key
    from pkgrun.repo import publish_rpms
    from pkgrun.report import NullReporter

    key = session_key()
    times: dict[str, list[float]] = {"unsigned": [], "signed": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(3):
            for kind in times:
                rpms = [
                    make_rpm(Path(tmp) / f"{kind}{run}", f"pkg{i:03d}", payload=kind) for i in range(count)
                ]
                started = time.monotonic()
                publish_rpms(
                    rpms,
                    Path(tmp) / f"repo-{kind}{run}",
                    TARGETS["local"],
                    reporter=NullReporter(),
                    key=key if kind == "signed" else None,
                )
                times[kind].append(time.monotonic() - started)
    unsigned, signed = statistics.median(times["unsigned"]), statistics.median(times["signed"])
    print(f"publishing {count} small RPMs into a new repository (median of 3)")
    print(f"  unsigned: {unsigned:.2f} s   signed: {signed:.2f} s")
    print(f"  signing adds {signed - unsigned:.2f} s, {(signed - unsigned) / count * 1000:.0f} ms a package")


def bench_reproducible(mirror: Path) -> None:
    """Two clean builds of each seed recipe on the local target, unsigned: the same bytes?"""
    import hashlib

    with tempfile.TemporaryDirectory() as tmp:
        digests: dict[str, list[str]] = {}
        sizes: dict[str, int] = {}
        for run in (1, 2):
            out = Path(tmp) / f"out{run}"
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pkgrun", "--recipes", str(PROJECT / "recipes"), "build",
                 "nginx", "supervisor", "php", "--target", "local", "--mirror", str(mirror),
                 "--out", str(out), "--unsigned", "--no-publish", "--no-install-test", "--no-lint",
                 "--json"],
                check=True, capture_output=True, text=True,
                env={**os.environ, "XDG_STATE_HOME": str(Path(tmp) / "state")},
            )  # fmt: skip
            print(f"  build {run}: {time.monotonic() - started:.0f} s", flush=True)
            for built in json.loads(result.stdout)["built"]:
                rpm = Path(built["rpm"])
                digests.setdefault(built["name"], []).append(hashlib.sha256(rpm.read_bytes()).hexdigest())
                sbom = rpm.with_name(rpm.name.removesuffix(".rpm") + ".cdx.json")
                sizes[built["name"]] = sbom.stat().st_size
    print("two clean builds of the seed recipes, local target, unsigned")
    for name, (first, second) in sorted(digests.items()):
        verdict = "identical" if first == second else "DIFFERENT"
        print(f"  {name:11s} {verdict}: {first}  {second}  (SBOM {sizes[name] / 1024:.0f} KiB)")


def bench_nightly(mirror: Path) -> None:
    env = {**os.environ, **signing_env()}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(PROJECT / "recipes", project / "recipes")
        (project / "pkgrun.toml").write_text('[nightly]\ntargets = ["local"]\n')
        env["PKGRUN_REPO"] = str(project / "repo")

        def timed(*argv: str) -> float:
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "pkgrun", *argv, "--mirror", str(mirror)],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
            )
            return time.monotonic() - started

        cold = timed("nightly", "--out", "out-nightly")
        warm = [timed("nightly", "--out", "out-nightly") for _ in range(3)]
        singles = {}
        for name in ("nginx", "supervisor", "php"):
            singles[name] = timed(
                "build",
                name,
                "--target",
                "local",
                "--out",
                "out-single",
                "--repo",
                str(project / "repo-single"),
            )
    total = sum(singles.values())
    print("nightly of the three seed recipes, local target")
    print(
        f"  warm no-op nightly (median of 3): {statistics.median(warm):.2f} s  (runs: "
        + ", ".join(f"{w:.2f}" for w in warm)
        + ")"
    )
    print(f"  cold nightly:                     {cold:.1f} s")
    print(
        "  the same builds one by one:       "
        + ", ".join(f"{n} {t:.1f} s" for n, t in singles.items())
        + f" = {total:.1f} s"
    )
    print(f"  cold nightly / sum of singles:    {cold / total:.2f}")


def with_pkgrun(mirror: Path, out: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pkgrun",
            "--recipes",
            str(PROJECT / "recipes"),
            "nginx",
            "--version",
            "1.22.1",
            "--target",
            "local",
            "--mirror",
            str(mirror),
            "--out",
            str(out),
            # the steps the by-hand run has: no rpmlint, signing, install test or publish
            "--no-publish",
            "--no-install-test",
            "--no-lint",
            "--unsigned",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["build", "publish", "nightly", "sign", "reproducible"])
    args = parser.parse_args()
    if args.only in (None, "sign"):
        bench_sign()
    if args.only in (None, "reproducible"):
        bench_reproducible(args.mirror)
    if args.only in (None, "publish"):
        bench_publish()
        bench_publish(100, size=8 << 20)  # where not re-reading the packages pays
    if args.only in (None, "nightly"):
        bench_nightly(args.mirror)
    if args.only not in (None, "build"):
        return
    env = dict(os.environ)
    settings = resolve({}, env)
    engine = detect_engine(settings.engine, settings.engine_urls).name.value
    (loaded,) = load_recipes(PROJECT / "recipes", ["nginx"])
    plan = make_plan(
        loaded,
        TARGETS["local"],
        out_dir=Path("out"),
        options=Options(make_jobs=os.cpu_count() or 1),
        version="1.22.1",
    )
    nfpm = find_tool("nfpm")
    with tempfile.TemporaryDirectory() as tmp:
        # one build first, untimed: the source in the cache, the build image made
        with_pkgrun(args.mirror, Path(tmp) / "warm", env)
        base_id = subprocess.run(
            [
                engine,
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                base_image_tag(plan.target, plan.target.containerfile),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        image = build_image_tag(plan.target, base_id, plan.build_requires)
        source = settings.cache_dir / "sources" / plan.source.filename
        tool_times, hand_times = [], []
        for run in range(args.runs):
            out = Path(tmp) / f"run{run}"
            (out / "hand").mkdir(parents=True)
            tool_times.append(with_pkgrun(args.mirror, out / "pkgrun", env))
            hand_times.append(by_hand(plan, engine, image, source, nfpm, out / "hand"))
            print(f"run {run + 1}: pkgrun {tool_times[-1]:.1f} s, by hand {hand_times[-1]:.1f} s", flush=True)
    tool, hand = statistics.median(tool_times), statistics.median(hand_times)
    print(f"nginx 1.22.1, local target, {engine}, nfpm, {args.runs} runs (medians)")
    print(f"  pkgrun build:        {tool:.1f} s")
    print(f"  same steps by hand:  {hand:.1f} s")
    print(
        f"  overhead ratio:      {tool / hand:.3f}  ({tool - hand:+.1f} s: fetch check, image lookup, "
        f"verification, process start)"
    )


if __name__ == "__main__":
    main()
