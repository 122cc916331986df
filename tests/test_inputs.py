"""Every input of a build is in its inputs digest and every input of a compile in its key, the
modes and link targets of the recipe's files included: what the container sees of a recipe
directory is what they hold. Directly, and through the pipeline with the fake engine."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import Notes, session_key
from pkgrun.build.cache import Inputs, inputs_of
from pkgrun.build.compiles import CompileInputs, compile_inputs
from pkgrun.build.plan import BuildPlan, Options, make_plan
from pkgrun.config.settings import Settings
from pkgrun.engine.container import Engine, EngineName
from pkgrun.pipeline import nightly
from pkgrun.pipeline.outcome import Mode, Request, Status
from pkgrun.pipeline.runner import run_builds
from pkgrun.recipe.directory import load_recipes
from pkgrun.targets import TARGETS
from test_pipeline import host_tools, settings_for  # noqa: F401 (an autouse fixture)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def plan_of(settings: Settings) -> BuildPlan:
    (hello,) = load_recipes(settings.recipes, ["hello"])
    return make_plan(hello, TARGETS["local"], out_dir=settings.out_dir, options=Options())


def both(settings: Settings) -> tuple[Inputs, CompileInputs]:
    plan = plan_of(settings)
    return (
        inputs_of(plan, image="image", packager="nfpm"),
        compile_inputs(plan, image="image", source_date_epoch=1),
    )


def with_a_tool(settings: Settings) -> Path:
    """The hello recipe with a file its build script may read, and a link to it."""
    recipe = settings.recipes / "hello"
    (recipe / "tool").write_text("echo tool\n")
    (recipe / "tool").chmod(0o644)
    (recipe / "tool-link").symlink_to("tool")
    return recipe


CHANGES = {
    "chmod +x": (lambda r: (r / "tool").chmod(0o755), "tool made executable"),
    "chmod -x": (lambda r: (r / "build.sh").chmod(0o644), "build.sh no longer executable"),
    "a retargeted link": (
        lambda r: ((r / "tool-link").unlink(), (r / "tool-link").symlink_to("README")),
        "tool-link links to README (was tool)",
    ),
    "an empty directory": (lambda r: (r / "patches").mkdir(), "directory patches added"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_mode_or_a_link_target_changes_the_inputs_and_the_compile_key(tmp_path: Path, change: str) -> None:
    settings = settings_for(tmp_path)
    recipe = with_a_tool(settings)
    (recipe / "build.sh").chmod(0o755)
    build, compile_ = both(settings)
    make, words = CHANGES[change]
    make(recipe)
    build_after, compile_after = both(settings)
    assert build_after.digest() != build.digest()
    assert compile_after.digest() != compile_.digest()
    assert build_after.changes_from(asdict(build)) == [words]
    assert compile_after.changes_from(asdict(compile_)) == [words]


def test_what_the_container_sees_is_what_the_inputs_hold(tmp_path: Path) -> None:
    """Group-writable or setuid bits are not seen by the container, so they change nothing; a
    hook made executable is a build input and no compile input (the build never sees it)."""
    settings = settings_for(tmp_path)
    recipe = with_a_tool(settings)
    build, compile_ = both(settings)
    (recipe / "tool").chmod(0o664)
    os.chmod(recipe, 0o775)
    assert both(settings) == (build, compile_)
    (recipe / "after_install.sh").chmod(0o755)
    build_after, compile_after = both(settings)
    assert build_after.changes_from(asdict(build)) == ["after_install.sh made executable"]
    assert compile_after == compile_


def test_a_record_from_before_modes_were_inputs_differs_by_its_scheme(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    build, compile_ = both(settings)
    old_build = {k: v for k, v in asdict(build).items() if k not in ("modes", "scheme")}
    assert build.changes_from(old_build) == ["pkgrun's build inputs scheme changed"]
    old_compile = {**asdict(compile_), "scheme": 1}
    del old_compile["modes"]
    assert compile_.changes_from(old_compile) == ["pkgrun's compile scheme changed"]


def test_chmod_of_a_file_the_build_copies_rebuilds_and_recompiles(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    recipe = with_a_tool(settings)
    script = recipe / "build.sh"
    script.write_text(
        script.read_text() + 'cp "$PKGRUN_RECIPE_DIR/tool" "$PKGRUN_DESTDIR/usr/share/hello/tool"\n'
    )
    (hello,) = load_recipes(settings.recipes, ["hello"])
    request = Request(hello, TARGETS["local"], Mode.IF_CHANGED)
    (first,) = run_builds([request], settings, Engine(EngineName.PODMAN), Notes(), session_key()).outcomes
    assert first.status is Status.BUILT, first.error
    assert packaged_mode(Path(first.rpm or ""), "/usr/share/hello/tool") == 0o644

    (recipe / "tool").chmod(0o755)
    plan = plan_of(settings)
    assert nightly.explain(plan, settings.repo).reason == "changed: tool made executable"
    said = nightly.explain_compile(plan, settings)
    assert said.startswith("from source, changed since the last kept compile: tool made executable"), said
    (hello,) = load_recipes(settings.recipes, ["hello"])
    request = Request(hello, TARGETS["local"], Mode.IF_CHANGED)
    (second,) = run_builds([request], settings, Engine(EngineName.PODMAN), Notes(), session_key()).outcomes
    assert second.status is Status.BUILT, second.error
    assert second.reason == "changed: tool made executable"  # not "compile reused"
    assert packaged_mode(Path(second.rpm or ""), "/usr/share/hello/tool") == 0o755


def packaged_mode(rpm: Path, path: str) -> int:
    out = subprocess.run(
        ["rpm", "-qp", "--qf", "[%{FILEMODES} %{FILENAMES}\n]", str(rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modes = {name: int(mode) for mode, name in (line.split(" ", 1) for line in out.splitlines())}
    return stat.S_IMODE(modes[path])
