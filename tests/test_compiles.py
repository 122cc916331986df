"""The compile cache: a change to packaging alone repackages the kept compile without running the
build script; a change to what the compile depends on compiles again. Through the pipeline with
the fake engine (real nfpm, rpm and repository), and the cache's own rules directly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import Notes, session_key
from pkgrun.build.compiles import CompileCache, CompileInputs, compile_inputs
from pkgrun.build.plan import Options, Step, make_plan
from pkgrun.engine.container import Engine, EngineName
from pkgrun.pipeline.hosts import BuildHost
from pkgrun.pipeline.outcome import Mode, Request, Status
from pkgrun.pipeline.runner import run_builds
from pkgrun.recipe.directory import load_recipes
from pkgrun.rpm.header import content_digest
from pkgrun.targets import TARGETS
from test_pipeline import SOURCES, build, host_tools, settings_for  # noqa: F401 (an autouse fixture)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def ran_build_script(engine: FakeEngine) -> int:
    return sum(1 for argv in engine.calls if "exec" in argv and argv[-1].endswith("/build.sh"))


def test_a_hook_change_repackages_the_kept_compile(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (first,) = build(settings).outcomes
    assert first.status is Status.BUILT and first.result is not None
    assert Step.BUILD in first.result.steps and ran_build_script(engine) == 1
    assert len(list((settings.cache_dir / "compiles").glob("*.tar"))) == 1

    hook = settings.recipes / "hello" / "after_install.sh"
    hook.write_text('echo "hello: repackaged ($1)"\n')
    (second,) = build(settings, mode=Mode.IF_CHANGED).outcomes

    assert second.status is Status.BUILT, second.error
    assert second.reason.startswith("changed: after_install.sh changed; compile reused (key ")
    assert second.result is not None
    assert ran_build_script(engine) == 1  # the build script did not run again
    assert Step.BUILD not in second.result.steps
    assert Step.COMPILE_CACHE in second.result.steps and Step.UNPACK in second.result.steps
    assert second.nevra == "hello-0:1.0-4.1.local.noarch"  # published, as a new release
    rpm = Path(second.rpm or "")
    assert "hello: repackaged" in rpm_scripts(rpm)
    # the same files as the compile made them: the build's record of its environment among them
    assert rpm_files(rpm) == rpm_files(Path(first.rpm or ""))


def test_packaging_a_kept_compile_makes_the_package_compiling_makes(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, publish=False)
    (compiled,) = build(settings).outcomes
    first = tmp_path / "compiled.rpm"
    first.write_bytes(Path(compiled.rpm or "").read_bytes())
    (reused,) = build(settings).outcomes
    assert reused.result is not None and Step.BUILD not in reused.result.steps
    assert content_digest(first) == content_digest(Path(reused.rpm or ""))


@pytest.mark.parametrize("change", ["build script", "a file the build may read", "source", "--recompile"])
def test_what_the_compile_depends_on_compiles_again(engine: FakeEngine, tmp_path: Path, change: str) -> None:
    settings = settings_for(tmp_path, publish=False)
    build(settings)
    recipe = settings.recipes / "hello"
    if change == "build script":
        (recipe / "build.sh").write_text((recipe / "build.sh").read_text() + "# changed\n")
    elif change == "a file the build may read":
        (recipe / "patches").mkdir()
        (recipe / "patches" / "fix.patch").write_text("--- a\n+++ b\n")
    elif change == "source":
        settings = settings.but(mirrors=(str(other_source(tmp_path, recipe)),))
    else:
        settings = settings.but(recompile=True)
    reporter = Notes()
    (hello,) = load_recipes(settings.recipes, ["hello"])
    request = Request(hello, TARGETS["local"], Mode.ALWAYS)
    run = run_builds([request], settings, Engine(EngineName.PODMAN), reporter, session_key())
    (outcome,) = run.outcomes
    assert outcome.status is Status.BUILT, outcome.error
    assert ran_build_script(engine) == 2
    said = next(n for n in reporter.notes if n.startswith("compile"))
    expected = {
        "build script": "build.sh changed",
        "a file the build may read": "patches/fix.patch added",
        "source": "source checksum changed",
        "--recompile": "--recompile",
    }[change]
    assert expected in said, said


def other_source(tmp_path: Path, recipe: Path) -> Path:
    """A mirror with another hello-1.0.tar.gz, and the recipe's checksum for it."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    original = SOURCES / "hello-1.0.tar.gz"
    out = io.BytesIO()
    with tarfile.open(original) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name.endswith("hello.conf") and data is not None:
                content = data.read() + b"# another release of the source\n"
                member.size = len(content)
                dst.addfile(member, io.BytesIO(content))
            else:
                dst.addfile(member, data)
    (mirror / "hello-1.0.tar.gz").write_bytes(out.getvalue())
    digest = hashlib.sha256(out.getvalue()).hexdigest()
    toml = recipe / "recipe.toml"
    text = toml.read_text()
    old = text.split('"1.0" = "', 1)[1].split('"', 1)[0]
    toml.write_text(text.replace(old, digest))
    return mirror


def test_only_what_the_compile_reads_is_in_its_key(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (hello,) = load_recipes(settings.recipes, ["hello"])

    def key(**options: object) -> str:
        plan = make_plan(hello, TARGETS["local"], out_dir=tmp_path, options=Options(**options))  # type: ignore[arg-type]
        return compile_inputs(plan, image="sha256:1", source_date_epoch=1).digest()

    base = key()
    assert key(make_jobs=7) == base  # make -j does not change what is built
    assert key(lint=False, sign=False) == base
    # packaging only: hooks, [files.add] sources, recipe.toml's other tables
    for path in ("after_install.sh", "README"):
        (settings.recipes / "hello" / path).write_text("changed\n")
    toml = settings.recipes / "hello" / "recipe.toml"
    toml.write_text(toml.read_text().replace('summary = "Says hello"', 'summary = "Says hi"'))
    (hello,) = load_recipes(settings.recipes, ["hello"])
    assert key() == base
    (settings.recipes / "hello" / "build.sh").write_text("true\n")
    (hello,) = load_recipes(settings.recipes, ["hello"])
    assert key() != base


def test_the_least_recently_used_compiles_go_first(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path / "compiles", max_bytes=2500)

    def store(n: int) -> str:
        inputs = CompileInputs("s", n, {}, "build.sh", [], "image", {})
        archive = cache.staging() / "compiled.tar"
        archive.write_bytes(b"x" * 1000)
        return cache.store(inputs, archive, [("gcc", "12")], seconds=1.0).digest

    first, second = store(1), store(2)
    os.utime(tmp_path / "compiles" / f"{second}.tar", (1, 1))  # long unused
    assert cache.find(first) is not None  # used now
    third = store(3)
    assert cache.find(second) is None  # pruned: the least recently used
    assert cache.find(first) is not None and cache.find(third) is not None
    facts = json.loads((tmp_path / "compiles" / f"{third}.json").read_text())
    assert facts["build_packages"] == [["gcc", "12"]] and facts["size"] == 1000


def rpm_scripts(rpm: Path) -> str:
    return subprocess.run(
        ["rpm", "-qp", "--scripts", str(rpm)], capture_output=True, text=True, check=True
    ).stdout


def rpm_files(rpm: Path) -> list[str]:
    out = subprocess.run(
        ["rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEMODES} %{FILEDIGESTS}\n]", str(rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


@pytest.mark.parametrize("target", ["local", "el9"])
def test_the_build_never_sees_what_only_packaging_reads(
    engine: FakeEngine, tmp_path: Path, target: str
) -> None:
    """Neither the recipe's packaging files nor what pkgrun writes for the packager: fpm's
    %changelog (it holds the iteration), the hooks escaped for rpmbuild, nfpm."""
    settings = settings_for(tmp_path, publish=False)
    script = settings.recipes / "hello" / "build.sh"
    script.write_text(
        script.read_text()
        + 'for f in recipe.toml after_install.sh README; do test ! -e "$PKGRUN_RECIPE_DIR/$f"; done\n'
        + 'top=${PKGRUN_RECIPE_DIR%/recipe}; test ! -e "$top/tools"; test ! -e "$top/bin/nfpm"\n'
    )
    packager_had: list[str] = []

    def look(argv: list[str]) -> None:
        if "exec" in argv and any(a == "fpm" or a.endswith("/nfpm") for a in argv):
            (root,) = engine.containers.values()
            found = [root / "pkgrun/tools/changelog", root / "pkgrun/tools/hooks", root / "pkgrun/bin/nfpm"]
            packager_had.extend(path.name for path in found if path.exists())

    engine.fail = look  # type: ignore[assignment]
    (outcome,) = build(settings, target).outcomes
    assert outcome.status is Status.BUILT, outcome.error  # and packaging had them all
    assert "hello: after install" in rpm_scripts(Path(outcome.rpm or ""))
    assert packager_had == (["changelog", "hooks"] if target == "el9" else ["nfpm"])


def test_the_build_script_is_an_input_whatever_else_names_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    toml = settings.recipes / "hello" / "recipe.toml"
    toml.write_text(
        toml.read_text().replace("[files.add]\n", '[files.add]\n"/usr/share/hello/build.sh" = "build.sh"\n')
    )
    (hello,) = load_recipes(settings.recipes, ["hello"])
    plan = make_plan(hello, TARGETS["local"], out_dir=tmp_path, options=Options())
    inputs = compile_inputs(plan, image="sha256:1", source_date_epoch=1)
    assert "build.sh" in inputs.files


def test_each_thing_the_compile_depends_on_changes_its_key(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (hello,) = load_recipes(settings.recipes, ["hello"])
    plan = make_plan(hello, TARGETS["local"], out_dir=tmp_path, options=Options())
    base = compile_inputs(plan, image="sha256:1", source_date_epoch=1, packages=["a"])
    others = [
        compile_inputs(plan, image="sha256:2", source_date_epoch=1, packages=["a"]),  # a new image
        compile_inputs(plan, image="sha256:1", source_date_epoch=2, packages=["a"]),  # SOURCE_DATE_EPOCH
        compile_inputs(plan, image="sha256:1", source_date_epoch=1, packages=["b"]),  # a needed package
        replace(base, build_requires=["gcc"]),  # a build requirement
        make_plan(hello, TARGETS["el9"], out_dir=tmp_path, options=Options()),  # another target
    ]
    keys = {base.digest()}
    for other in others:
        if not isinstance(other, CompileInputs):
            other = compile_inputs(other, image="sha256:1", source_date_epoch=1, packages=["a"])
        keys.add(other.digest())
    assert len(keys) == len(others) + 1
    # what must not change it: make -j, ccache's size
    same = make_plan(hello, TARGETS["local"], out_dir=tmp_path, options=Options(make_jobs=9, ccache="9G"))
    assert (
        compile_inputs(same, image="sha256:1", source_date_epoch=1, packages=["a"]).digest() == base.digest()
    )


def test_a_damaged_kept_compile_is_forgotten_and_the_source_compiled(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, publish=False)
    build(settings)
    (tree,) = (settings.cache_dir / "compiles").glob("*.tar")
    tree.write_bytes(b"not a tar archive, but as long as the archive was".ljust(tree.stat().st_size, b"."))
    reporter = Notes()
    (hello,) = load_recipes(settings.recipes, ["hello"])
    request = Request(hello, TARGETS["local"], Mode.ALWAYS)
    (outcome,) = run_builds([request], settings, Engine(EngineName.PODMAN), reporter, session_key()).outcomes
    assert outcome.status is Status.BUILT, outcome.error
    assert ran_build_script(engine) == 2
    assert any("is unusable" in n for n in reporter.notes), reporter.notes
    # foreign facts are not trusted either: the entry goes, and the build compiles
    meta = next((settings.cache_dir / "compiles").glob("*.json"))
    meta.write_text(json.dumps({"size": 1, "build_packages": [["a", "b", "c"]]}))
    (again,) = build(settings).outcomes
    assert again.status is Status.BUILT and ran_build_script(engine) == 3


def prune_elsewhere(compiles: Path) -> list[str]:
    """The compile cache pruned to nothing by another pkgrun process; what it removed."""
    script = "import sys; from pathlib import Path; from pkgrun.build.compiles import CompileCache; "
    script += "print(*CompileCache(Path(sys.argv[1]), 0).prune())"
    out = subprocess.run([sys.executable, "-c", script, str(compiles)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


class OnReuse(Notes):
    """Does ``then`` as soon as the build says it reuses a kept compile: after the look-up,
    before the kept compile is copied into the container."""

    def __init__(self, then: object) -> None:
        super().__init__()
        self.then, self.did = then, None

    def note(self, recipe: str, message: str) -> None:
        super().note(recipe, message)
        if message.startswith("compile reused"):
            self.did = self.then()  # type: ignore[operator]


def test_a_kept_compile_in_use_is_held_while_another_process_prunes(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, publish=False)
    build(settings)
    compiles = settings.cache_dir / "compiles"
    (tree,) = compiles.glob("*.tar")
    reporter = OnReuse(lambda: prune_elsewhere(compiles))
    (hello,) = load_recipes(settings.recipes, ["hello"])
    request = Request(hello, TARGETS["local"], Mode.ALWAYS)
    (outcome,) = run_builds([request], settings, Engine(EngineName.PODMAN), reporter, session_key()).outcomes
    assert reporter.did == [tree.stem]  # the other process pruned it out of the cache
    assert outcome.status is Status.BUILT, outcome.error
    assert outcome.result is not None and outcome.result.compile == f"compile reused (key {tree.stem[:12]})"
    assert ran_build_script(engine) == 1  # packaged from the held compile
    assert list(compiles.glob("*.tar")) == [] and list(compiles.glob(".held-*")) == []  # let go at the end


def test_a_kept_compile_that_goes_all_the_same_is_compiled_from_source(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, publish=False)
    build(settings)
    compiles = settings.cache_dir / "compiles"

    def take_it_away() -> int:
        gone = [*compiles.glob(".held-*/*.tar"), *compiles.glob("*.tar"), *compiles.glob("*.json")]
        for path in gone:
            path.unlink()
        return len(gone)

    reporter = OnReuse(take_it_away)
    (hello,) = load_recipes(settings.recipes, ["hello"])
    request = Request(hello, TARGETS["local"], Mode.ALWAYS)
    (outcome,) = run_builds([request], settings, Engine(EngineName.PODMAN), reporter, session_key()).outcomes
    assert reporter.did == 3  # its hold, its archive, its facts
    assert outcome.status is Status.BUILT, outcome.error
    assert ran_build_script(engine) == 2
    assert any("went before it was copied in" in n for n in reporter.notes), reporter.notes
    assert outcome.result is not None and outcome.result.compile.startswith("compiled (key ")  # type: ignore[union-attr]
    assert len(list(compiles.glob("*.tar"))) == 1  # and kept again


def test_a_hold_outlives_pruning_in_another_thread(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path / "compiles", max_bytes=0)
    holds = cache.holds()
    payload = os.urandom(1 << 20)

    def store(n: int) -> str:
        archive = cache.staging() / "compiled.tar"
        archive.write_bytes(payload)
        return cache.store(CompileInputs("s", n, {}, "build.sh", [], "image", {}), archive, [], 1.0).digest

    kept = cache.find(store(0))
    assert kept is not None
    held = cache.hold(kept, holds)
    pruner = threading.Thread(target=cache.prune)
    pruner.start()
    pruner.join()
    assert held is not None and held.tree.read_bytes() == payload  # pruned from the cache, still held
    assert cache.find(kept.digest) is None and cache.hold(kept, holds) is None  # gone: no error
    # holding while another thread prunes: held whole, or gone; never an exception
    for n in range(1, 30):
        found = cache.find(store(n))
        assert found is not None
        pruner = threading.Thread(target=cache.prune)
        pruner.start()
        taken = cache.hold(found, holds)
        pruner.join()
        assert taken is None or taken.tree.read_bytes() == payload


def test_prune_sweeps_the_holds_of_a_process_that_ended_and_no_other(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path / "compiles")
    mine = cache.holds()
    (mine / f"{'a' * 64}.tar").write_bytes(b"held")
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    theirs = cache.directory / f".held-{ended.stdout.strip()}-x"
    theirs.mkdir()
    (theirs / f"{'b' * 64}.tar").write_bytes(b"left behind")
    prune_elsewhere(cache.directory)
    assert (mine / f"{'a' * 64}.tar").read_bytes() == b"held"
    assert not theirs.exists()


def test_a_kept_compile_records_the_host_that_made_it(engine: FakeEngine, tmp_path: Path) -> None:
    from pkgrun.pipeline import nightly

    settings = settings_for(tmp_path, publish=False)
    (hello,) = load_recipes(settings.recipes, ["hello"])
    host = Engine(EngineName.PODMAN, url="ssh://builder@build1.example.org/run/podman.sock")
    request = Request(hello, TARGETS["local"], Mode.ALWAYS)
    (outcome,) = run_builds([request], settings, host, Notes(), session_key()).outcomes
    assert outcome.status is Status.BUILT, outcome.error
    (meta,) = (settings.cache_dir / "compiles").glob("*.json")
    assert (
        json.loads(meta.read_text())["host"] == "podman at ssh://builder@build1.example.org/run/podman.sock"
    )
    plan = make_plan(hello, TARGETS["local"], out_dir=tmp_path, options=Options())
    said = nightly.explain_compile(plan, settings)
    assert said.startswith("reused (key "), said
    assert ", compiled on podman at ssh://builder@build1.example.org/run/podman.sock " in said
    reporter = Notes()  # reused here: the build says where it was made
    (again,) = run_builds([request], settings, Engine(EngineName.PODMAN), reporter, session_key()).outcomes
    assert again.status is Status.BUILT, again.error
    assert any("compiled on podman at ssh://builder@build1" in n for n in reporter.notes), reporter.notes
    build(settings.but(recompile=True))  # made again here, on this machine's engine
    assert json.loads(meta.read_text())["host"] == "this machine's podman"
    named = BuildHost("build1", host, 1)  # a [[hosts]] entry: its name first
    run_builds([request], settings.but(recompile=True), [named], Notes(), session_key())
    assert (
        json.loads(meta.read_text())["host"]
        == "build host build1 (podman at ssh://builder@build1.example.org/run/podman.sock)"
    )
