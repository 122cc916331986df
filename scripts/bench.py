"""pkgrun's benchmarks. Prints figures and a table against the goals; asserts nothing about time.

- start:   `pkgrun --help`, `list` and `check` on the seed recipes (median wall of 5);
- noop:    a no-op nightly of 300 generated trivial recipes: wall, engine calls, containers;
- ccache:  nginx compiled with its ccache volume empty, then warm (and whether the RPMs match);
- nightly: a cold nightly of the three seed recipes (nothing cached) against max(longest build,
           CPU seconds / cores); then php's after_install.sh changed: the nightly repackages the
           kept compile (against php's cold build); a warm no-op nightly;
- sign:    the time signing adds to publishing (packages and repomd.xml);
- publish: publishing 1 RPM into a repository of 2,000 small RPMs, incrementally, against a
           full createrepo_c of the same packages;
- build:   `pkgrun nginx --target local` (compiling, no ccache) against the same container and
           packager steps run by hand (the same commands, one after the other);
- reproducible (only with --only): php, nginx and supervisor compiled twice, unsigned, ccache
           off: the digests of both builds, and whether they are the same bytes.
- hosts (only with --only; root, podman): build hosts stood in for by two `podman system service`
           processes with storages of their own. nginx compiled on the local engine, then on a
           fresh host (its images made there first), then again there: wall times and what each
           build copied in and out. Then a cold nightly of the three seed recipes over the two
           hosts: how the builds and busy time split between them.

Signing uses a throwaway key made for the run; every cache and ccache volume is the run's own.

Usage: python scripts/bench.py --mirror DIR
       [--only start|noop|ccache|nightly|sign|publish|build|reproducible|hosts]
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

from pkgrun.build.nfpm import fpm_style_scripts, nfpm_config
from pkgrun.build.plan import (
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
from pkgrun.build.staging import expand_directories, find_argv, owned_directories, parse_listing
from pkgrun.config.settings import resolve
from pkgrun.engine.container import detect_engine
from pkgrun.engine.images import build_image_tag
from pkgrun.engine.ulimits import host_ulimits
from pkgrun.pipeline.build import hook_texts, stage_argv
from pkgrun.pipeline.compiling import unpack_argv
from pkgrun.recipe.directory import load_recipes
from pkgrun.run import find_tool
from pkgrun.targets import TARGETS

PROJECT = Path(__file__).resolve().parent.parent
NO_CCACHE = Path(tempfile.gettempdir()) / "pkgrun-bench-no-ccache.toml"


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
    from pkgrun.repo.publish import publish_rpms
    from pkgrun.report import NullReporter
    from pkgrun.targets import TARGETS

    with tempfile.TemporaryDirectory() as tmp:
        rpms_dir = Path(tmp) / "rpms"
        started = time.monotonic()
        rpms = [make_rpm(rpms_dir, f"pkg{i:04d}", size=size) for i in range(count)]
        made = time.monotonic() - started
        repo = Path(tmp) / "repo"
        started = time.monotonic()
        publish_rpms(rpms, repo, TARGETS["local"], records=Path(tmp) / "state", reporter=NullReporter())
        first = time.monotonic() - started
        incremental = []
        for run in range(3):
            one = make_rpm(Path(tmp) / f"extra{run}", f"newcomer{run}")
            started = time.monotonic()
            publish_rpms([one], repo, TARGETS["local"], records=Path(tmp) / "state", reporter=NullReporter())
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
    from pkgrun.repo.publish import publish_rpms
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
                    records=Path(tmp) / "state",
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
        config = Path(tmp) / "pkgrun.toml"
        config.write_text('[cache]\nccache = "0"\n')  # the compiler's work, each time
        for run in (1, 2):
            out = Path(tmp) / f"out{run}"
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pkgrun", "--recipes", str(PROJECT / "recipes"), "build",
                 "nginx", "supervisor", "php", "--target", "local", "--mirror", str(mirror),
                 "--out", str(out), "--unsigned", "--no-publish", "--no-install-test", "--no-lint",
                 "--recompile", "--config", str(config), "--json"],
                check=True, capture_output=True, text=True,
                env={**os.environ, "XDG_STATE_HOME": str(Path(tmp) / "state"),
                     "PKGRUN_CACHE_DIR": str(Path(tmp) / f"cache{run}")},
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


def _pkgrun(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    """Run pkgrun; its wall time and its output (stdout, then stderr)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pkgrun", *argv], cwd=cwd, env=env, capture_output=True, text=True
    )
    took = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"pkgrun {' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return took, result.stdout + result.stderr


def _busy_seconds() -> float:
    """CPU seconds this machine has spent busy (all cores, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _fresh_project(tmp: Path, recipes: list[str]) -> tuple[Path, dict[str, str], str]:
    """A project with these seed recipes, its own caches and ccache volumes (all cold)."""
    prefix = f"pkgrun-bench-{os.getpid()}-{tmp.name[-6:]}"
    for name in recipes:
        shutil.copytree(PROJECT / "recipes" / name, tmp / "recipes" / name)
    (tmp / "pkgrun.toml").write_text(f'[nightly]\ntargets = ["local"]\n[cache]\nccache-volume = "{prefix}"\n')
    env = {
        **os.environ,
        **signing_env(),
        "PKGRUN_REPO": str(tmp / "repo"),
        "PKGRUN_CACHE_DIR": str(tmp / "cache"),
        "XDG_STATE_HOME": str(tmp / "state"),
    }
    return tmp, env, prefix


def _drop_volumes(prefix: str) -> None:
    names = subprocess.run(
        ["podman", "volume", "ls", "-q", "--filter", f"name={prefix}"], capture_output=True, text=True
    ).stdout.split()
    if names:
        subprocess.run(["podman", "volume", "rm", "--force", *names], capture_output=True)


def bench_nightly(mirror: Path) -> dict[str, float]:
    """php built alone from nothing; then its after_install.sh changed and the nightly job run:
    it repackages the kept compile. A cold nightly of the three seed recipes (nothing cached)
    against max(php alone, the CPU seconds it used over the cores). A warm no-op nightly."""
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        project, env, prefix = _fresh_project(Path(tmp), ["php"])
        try:
            php_cold, _ = _pkgrun(
                ["build", "php", "--target", "local", "--mirror", str(mirror)], env, project
            )
            hook = project / "recipes" / "php" / "after_install.sh"
            hook.write_text(hook.read_text() + "# a change to the scriptlet only\n")
            hooked, out = _pkgrun(["nightly", "--mirror", str(mirror)], env, project)
            assert "php: compile reused" in out, out[-3000:]
        finally:
            _drop_volumes(prefix)
    with tempfile.TemporaryDirectory() as tmp:
        project, env, prefix = _fresh_project(Path(tmp), ["nginx", "supervisor", "php"])
        try:
            busy = _busy_seconds()
            cold, _ = _pkgrun(["nightly", "--mirror", str(mirror)], env, project)
            cpu = _busy_seconds() - busy
            report = json.loads((project / "reports" / "latest" / "report.json").read_text())
            seconds = {b["recipe"]: b["seconds"] for b in report["builds"]}
            warm = [_pkgrun(["nightly", "--mirror", str(mirror)], env, project)[0] for _ in range(3)]
        finally:
            _drop_volumes(prefix)
    bound = max(php_cold, cpu / cores)
    print("php alone, local target, nothing cached (compile, sign, lint, install test, publish)")
    print(f"  cold build: {php_cold:.1f} s")
    print(
        f"  after_install.sh changed, nightly (compile reused): {hooked:.1f} s, {hooked / php_cold:.3f} of it"
    )
    print("nightly of the three seed recipes, local target, nothing cached")
    print(f"  cold nightly: {cold:.1f} s; builds: " + ", ".join(f"{n} {t:.1f} s" for n, t in seconds.items()))
    print(f"  CPU used: {cpu:.0f} s on {cores} cores ({cpu / cores:.1f} s each); php alone {php_cold:.1f} s")
    print(f"  cold nightly / max(longest build alone, CPU / cores): {cold / bound:.3f}")
    print(f"  warm no-op nightly (median of 3): {statistics.median(warm):.2f} s")
    return {
        "cold_nightly": cold,
        "cold_ratio": cold / bound,
        "php_cold": php_cold,
        "php_hook": hooked,
        "hook_ratio": hooked / php_cold,
        "noop_seeds": statistics.median(warm),
    }


def bench_hosts(mirror: Path) -> None:
    """nginx on the local engine and on a build host (twice), and a cold nightly of the seed
    recipes over two build hosts (see the module's docstring)."""
    sys.path.insert(0, str(PROJECT / "tests"))
    from helpers import podman_service

    argv = ["build", "nginx", "--version", "1.22.1", "--target", "local", "--mirror", str(mirror),
            "--no-publish", "--unsigned", "--recompile", "--json"]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp, podman_service() as (a, _), podman_service() as (b, _):
        project, env, prefix = _fresh_project(Path(tmp), ["nginx", "supervisor", "php"])
        config = project / "pkgrun.toml"
        local_config = config.read_text()
        hosts = "".join(
            f'[[hosts]]\nname = "{n}"\nurl = "{u}"\nbuilds = 1\n' for n, u in (("a", a), ("b", b))
        )
        try:
            _pkgrun(["fetch", "--target", "local", "--mirror", str(mirror)], env, project)
            for label, extra in (("local engine", []), ("host a, images made first", ["--host", "a"]),
                                 ("host a, images made", ["--host", "a"])):  # fmt: skip
                config.write_text(local_config + (hosts if extra else ""))
                took, out = _pkgrun([*argv, *extra], env, project)
                built = json.loads(out[: out.rindex("}") + 1])["built"][0]
                rows.append((label, took, built["copied"]))
            config.write_text(local_config + hosts)
            cold, _ = _pkgrun(["nightly", "--mirror", str(mirror)], env, project)
            report = json.loads((project / "reports" / "latest" / "report.json").read_text())
        finally:
            _drop_volumes(prefix)
    print("nginx 1.22.1, local target, compiled (--recompile), install-tested, not published")
    for label, took, copied in rows:
        print(
            f"  {label:28s} {took:6.1f} s; copied in {copied['in_bytes'] / 2**20:5.1f} MiB in "
            f"{copied['in_seconds']:.2f} s, out {copied['out_bytes'] / 2**20:5.1f} MiB "
            f"in {copied['out_seconds']:.2f} s"
        )
    print(f"cold nightly of the seed recipes over two hosts: {cold:.1f} s")
    for build in report["builds"]:
        print(f"  {build['recipe']:11s} on {build['host']}: {build['seconds']:6.1f} s  {build['reason']}")
    for host in report["hosts"]:
        print(f"  host {host['name']}: {host['builds']} builds, busy {host['busy_seconds']} s")


def bench_ccache(mirror: Path) -> dict[str, float]:
    """nginx compiled with its ccache volume empty, then compiled again (--recompile) with it warm."""
    with tempfile.TemporaryDirectory() as tmp:
        project, env, prefix = _fresh_project(Path(tmp), ["nginx"])
        argv = ["build", "nginx", "--target", "local", "--mirror", str(mirror), "--no-publish",
                "--no-install-test", "--no-lint", "--unsigned", "--recompile", "--json"]  # fmt: skip
        try:
            _pkgrun(["fetch", "nginx", "--target", "local", "--mirror", str(mirror)], env, project)
            cold, _ = _pkgrun([*argv, "--out", "cold"], env, project)
            warm, _ = _pkgrun([*argv, "--out", "warm"], env, project)
            same = (project / "cold").glob("*.rpm").__next__().read_bytes() == next(
                (project / "warm").glob("*.rpm")
            ).read_bytes()
        finally:
            _drop_volumes(prefix)
    print("nginx 1.22.1, local target, compiled twice (no lint, install test or publish)")
    print(f"  ccache empty: {cold:.1f} s   ccache warm: {warm:.1f} s   ratio {warm / cold:.3f}")
    print(f"  the two RPMs: {'the same bytes' if same else 'DIFFERENT'}")
    return {"ccache_cold": cold, "ccache_warm": warm, "ccache_ratio": warm / cold}


def bench_start(runs: int = 5) -> dict[str, float]:
    """pkgrun --help, list and check on the three seed recipes: median wall time of ``runs``."""
    pkgrun = str(Path(sys.executable).parent / "pkgrun")
    out = {}
    for name, argv in (("help", ["--help"]), ("list", ["list"]), ("check", ["check"])):
        walls = []
        for _ in range(runs):
            started = time.monotonic()
            subprocess.run([pkgrun, *argv], cwd=PROJECT, check=True, capture_output=True)
            walls.append(time.monotonic() - started)
        out[name] = statistics.median(walls)
    print(f"start-up, median of {runs}: " + ", ".join(f"pkgrun {k} {v:.3f} s" for k, v in out.items()))
    return out


def bench_noop(count: int = 300, runs: int = 5) -> dict[str, float]:
    """A no-op nightly of ``count`` generated trivial recipes, every one published with the
    inputs it has: the wall time, the containers started and the engine calls it makes. The
    packages are made on this host with nfpm and published at once (building 300 recipes would
    time builds, not the no-op)."""
    from pkgrun.build import cache as buildcache
    from pkgrun.repo.publish import publish_rpms
    from pkgrun.report import NullReporter

    real = shutil.which("podman")
    assert real, "the no-op bench counts podman's calls"
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        names = [f"noop{i:03d}" for i in range(count)]
        for name in names:
            shutil.copytree(PROJECT / "tests" / "recipes" / "good" / "hello", project / "recipes" / name)
            toml = project / "recipes" / name / "recipe.toml"
            toml.write_text(toml.read_text().replace('name = "hello"', f'name = "{name}"'))
        (project / "pkgrun.toml").write_text('[nightly]\ntargets = ["local"]\n')
        settings = resolve({"recipes": project / "recipes", "repo": project / "repo"}, dict(os.environ))
        identities = buildcache.Identities()
        target = TARGETS["local"]
        loaded = load_recipes(project / "recipes", names)
        rpms, index = [], {}
        nfpm = find_tool("nfpm")
        for item in loaded:
            plan = make_plan(item, target, out_dir=project / "made", options=Options())
            plan.rpm.parent.mkdir(parents=True, exist_ok=True)
            config = {**(plan.nfpm_config or {}), "contents": []}
            cfg = project / "made" / f"{item.name}.json"
            cfg.write_text(json.dumps(config))
            subprocess.run([nfpm, "package", "--config", str(cfg), "--packager", "rpm", "--target",
                            str(plan.rpm)], check=True, capture_output=True)  # fmt: skip
            inputs = buildcache.inputs_of(
                plan, image=identities.image(target), packager=identities.packager(plan.packager)
            )
            entry = buildcache.entry(inputs, plan.nevra, plan.rpm.name, plan.iteration, 5.0)
            index[buildcache.key(plan)] = entry
            rpms.append(plan.rpm)
        publish_rpms(
            rpms, settings.repo, target, records=settings.state_dir, reporter=NullReporter(), index=index
        )
        shim = project / "bin"
        shim.mkdir()
        calls = project / "engine-calls"
        (shim / "podman").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
        (shim / "podman").chmod(0o755)
        env = {
            **os.environ,
            "PATH": f"{shim}:{os.environ['PATH']}",
            "PKGRUN_REPO": str(settings.repo),
            "PKGRUN_CACHE_DIR": str(project / "cache"),
            "XDG_STATE_HOME": str(project / "state"),
        }
        walls = []
        for _ in range(runs):
            calls.unlink(missing_ok=True)
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pkgrun", "nightly", "--engine", "podman", "--unsigned", "--json"],
                cwd=project, env=env, capture_output=True, text=True,
            )  # fmt: skip
            walls.append(time.monotonic() - started)
            assert result.returncode == 0, result.stderr[-2000:]
            counts = json.loads(result.stdout)["counts"]
            assert counts["skipped"] == count, counts
        made = calls.read_text().splitlines() if calls.exists() else []
        containers = sum(1 for line in made if line.split()[:1] == ["run"] or " run " in f" {line} ")
    wall = statistics.median(walls)
    print(f"no-op nightly of {count} generated trivial recipes, local target, podman")
    print(f"  wall (median of {runs}): {wall:.2f} s  (runs: " + ", ".join(f"{w:.2f}" for w in walls) + ")")
    print(f"  engine calls: {len(made)} ({'; '.join(sorted(set(made)))}), containers started: {containers}")
    return {"noop_wall": wall, "noop_calls": len(made), "noop_containers": containers}


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
            # the steps the by-hand run has: a compile (no ccache), no rpmlint, signing, install
            # test or publish
            "--recompile",
            "--config",
            str(NO_CCACHE),
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


GOALS = [
    # (figure, goal, how it is compared, what it is)
    ("hook_ratio", 0.10, "<=", "php hook-only change to published RPM / cold php build"),
    ("ccache_ratio", 0.35, "<=", "nginx recompile, warm ccache / ccache empty"),
    ("list", 0.20, "<=", "pkgrun list, median wall (s)"),
    ("check", 0.20, "<=", "pkgrun check, median wall (s)"),
    ("help", 0.12, "<=", "pkgrun --help, median wall (s)"),
    ("cold_ratio", 1.05, "<=", "cold nightly / max(longest build, CPU s / cores)"),
    ("noop_wall", 1.5, "<=", "no-op nightly of 300 trivial recipes, wall (s)"),
    ("noop_containers", 0, "<=", "  containers it started"),
    ("noop_calls", 1, "<=", "  engine calls it made (one target)"),
]


def print_table(figures: dict[str, float]) -> None:
    print()
    print(f"{'benchmark':56s} {'measured':>9s} {'goal':>7s}  met")
    for key, goal, _, what in GOALS:
        if key in figures:
            value = figures[key]
            print(f"{what:56s} {value:9.3f} {goal:7.2f}  {'yes' if value <= goal else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=["build", "publish", "nightly", "sign", "reproducible", "start", "ccache", "noop", "hosts"],
    )
    args = parser.parse_args()
    NO_CCACHE.write_text('[cache]\nccache = "0"\n')
    figures: dict[str, float] = {}
    if args.only in (None, "start"):
        figures |= bench_start()
    if args.only in (None, "noop"):
        figures |= bench_noop()
    if args.only in (None, "nightly"):
        figures |= bench_nightly(args.mirror)
    if args.only in (None, "ccache"):  # after the nightly, which made nginx's build image
        figures |= bench_ccache(args.mirror)
    if args.only in (None, "sign"):
        bench_sign()
    if args.only in (None, "publish"):
        bench_publish()
        bench_publish(100, size=8 << 20)  # where not re-reading the packages pays
    if args.only == "reproducible":  # two clean builds of all three: about 20 minutes
        bench_reproducible(args.mirror)
    if args.only == "hosts":  # needs root; about 15 minutes
        bench_hosts(args.mirror)
    if args.only in (None, "build"):
        bench_build(args)
    print_table(figures)


def bench_build(args: argparse.Namespace) -> None:
    cache = Path(tempfile.mkdtemp(prefix="pkgrun-bench-cache-"))  # sources and compiles: the run's own
    env = dict(os.environ, PKGRUN_CACHE_DIR=str(cache))
    settings = resolve({}, env)
    engine = detect_engine(settings.engine, settings.engine_urls).name.value
    (loaded,) = load_recipes(PROJECT / "recipes", ["nginx"])
    plan = make_plan(
        loaded,
        TARGETS["local"],
        out_dir=Path("out"),
        options=Options(make_jobs=os.cpu_count() or 1, ccache=None),
        version="1.22.1",
    )
    nfpm = find_tool("nfpm")
    with tempfile.TemporaryDirectory() as tmp:
        # one build first, untimed: the source in the cache, the build image made
        with_pkgrun(args.mirror, Path(tmp) / "warm", env)
        image = build_image_tag(plan.target, plan.target.containerfile, plan.build_requires)
        source = settings.cache_dir / "sources" / plan.source.filename
        tool_times, hand_times = [], []
        for run in range(args.runs):
            out = Path(tmp) / f"run{run}"
            (out / "hand").mkdir(parents=True)
            tool_times.append(with_pkgrun(args.mirror, out / "pkgrun", env))
            hand_times.append(by_hand(plan, engine, image, source, nfpm, out / "hand"))
            print(f"run {run + 1}: pkgrun {tool_times[-1]:.1f} s, by hand {hand_times[-1]:.1f} s", flush=True)
    tool, hand = statistics.median(tool_times), statistics.median(hand_times)
    shutil.rmtree(cache, ignore_errors=True)
    print(f"nginx 1.22.1, local target, {engine}, nfpm, {args.runs} runs (medians)")
    print(f"  pkgrun build:        {tool:.1f} s")
    print(f"  same steps by hand:  {hand:.1f} s")
    print(
        f"  overhead ratio:      {tool / hand:.3f}  ({tool - hand:+.1f} s: fetch check, image lookup, "
        f"verification, process start)"
    )


if __name__ == "__main__":
    main()
