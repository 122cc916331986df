"""What is the same package and what is not: the digest apart from release and signature, a
rebuild that changes nothing (not published again, nothing rebuilt for it), and `pkgrun rebuild`
(the fake engine's builds, see fake_engine.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from helpers import key_vars, make_rpm, nfpm_package, session_key
from pkgrun.cli.main import main
from pkgrun.engine.container import Engine, EngineName
from pkgrun.pipeline.outcome import Mode, Request, Status
from pkgrun.pipeline.runner import run_builds
from pkgrun.recipe.directory import load_recipes
from pkgrun.repo.data import list_published, read_index
from pkgrun.report import NullReporter
from pkgrun.rpm.header import content_digest, release_free_digest
from pkgrun.targets import TARGETS
from pkgrun.trust.signing import sign_rpms
from test_pipeline import SOURCES, host_tools, settings_for  # noqa: F401  (the fixture)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def test_the_digest_apart_from_release_and_signature(tmp_path: Path) -> None:
    one = make_rpm(tmp_path / "a", "alpha", release="1.local", text="same\n")
    two = make_rpm(tmp_path / "b", "alpha", release="1.1.local", text="same\n")
    other = make_rpm(tmp_path / "c", "alpha", release="1.1.local", text="other\n")
    assert content_digest(one) != content_digest(two)  # the release is in the header
    assert release_free_digest(one) == release_free_digest(two)
    assert release_free_digest(two) != release_free_digest(other)
    before = release_free_digest(two)
    sign_rpms(session_key(), [two])
    assert release_free_digest(two) == before
    renamed = make_rpm(tmp_path / "d", "beta", release="1.1.local", text="same\n")
    assert release_free_digest(renamed) != before  # the name is content


def greet(directory: Path, release: str, requires: str) -> Path:
    """greet, requiring its library: the lockstep Requires of a package family."""
    content = directory / "content"
    directory.mkdir(parents=True)
    content.write_text("same\n")
    config = {
        "name": "greet", "arch": "x86_64", "version": "1.0", "release": release, "epoch": "0",
        "version_schema": "none", "maintainer": "tests", "description": "greet", "license": "MIT",
        "mtime": "2024-01-01T00:00:00Z", "depends": [requires],
        "contents": [{"src": str(content), "dst": "/usr/share/greet/content"}],
    }  # fmt: skip
    return nfpm_package(config, directory / f"greet-1.0-{release}.x86_64.rpm")


def test_a_different_requirement_is_a_different_package(tmp_path: Path) -> None:
    """Only the package's own version-release is blanked, not a sibling's in a Requires."""
    one = greet(tmp_path / "a", "1.el9", "libgreet = 1.0-1.el9")
    two = greet(tmp_path / "b", "2.el9", "libgreet = 1.0-2.el9")
    same_requires = greet(tmp_path / "c", "2.el9", "libgreet = 1.0-1.el9")
    assert release_free_digest(one) != release_free_digest(two)
    assert release_free_digest(one) == release_free_digest(same_requires)


def reproducible(recipes: Path, name: str, build_recipes: tuple[str, ...] = ()) -> None:
    """A copy of hello named ``name`` whose package does not record its release."""
    if name != "hello":
        shutil.copytree(recipes / "hello", recipes / name)
    recipe = recipes / name / "recipe.toml"
    text = recipe.read_text().replace('name = "hello"', f'name = "{name}"')
    if build_recipes:
        text = text.replace("[build]\n", f"[build]\nrecipes = {json.dumps(list(build_recipes))}\n")
    recipe.write_text(text)
    script = recipes / name / "build.sh"
    script.write_text(script.read_text().replace(" $PKGRUN_TARGET", ""))


def nightly(settings):  # type: ignore[no-untyped-def]
    recipes = load_recipes(settings.recipes)
    requests = [Request(item, TARGETS["local"], Mode.IF_CHANGED) for item in recipes]
    run = run_builds(requests, settings, Engine(EngineName.PODMAN), NullReporter(), session_key())
    return {o.recipe: o for o in run.outcomes}


def test_a_rebuild_that_changes_nothing_is_not_published_and_nothing_rebuilds_for_it(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    reproducible(settings.recipes, "hello")
    reproducible(settings.recipes, "middle", ("hello",))
    reproducible(settings.recipes, "top", ("middle",))
    first = nightly(settings)
    assert {name: o.status for name, o in first.items()} == dict.fromkeys(
        ["hello", "middle", "top"], Status.BUILT
    )

    # hello's package changes; middle, built against it, comes out the same
    script = settings.recipes / "hello" / "build.sh"
    script.write_text(script.read_text() + 'echo more > "$PKGRUN_DESTDIR/usr/share/hello/more"\n')
    second = nightly(settings)
    assert second["hello"].status is Status.BUILT and second["hello"].nevra == "hello-0:1.0-4.1.local.noarch"
    assert second["middle"].status is Status.IDENTICAL
    assert second["middle"].reason == (
        "changed: needed packages changed; identical to the published middle-1.0-4.local.noarch.rpm "
        "apart from release and signature"
    )
    assert second["top"].status is Status.SKIPPED and second["top"].reason == "inputs unchanged"
    published = [row.nevra for row in list_published(settings.repo)]
    assert published == [
        "hello-0:1.0-4.1.local.noarch",
        "hello-0:1.0-4.local.noarch",
        "middle-0:1.0-4.local.noarch",
        "top-0:1.0-4.local.noarch",
    ]
    # what middle was made of now is recorded against the package it equals: nothing to do next
    entry = read_index(settings.repo / "local")["middle@1.0"]
    assert entry["file"] == "middle-1.0-4.local.noarch.rpm" and entry["iteration"] == "4"
    third = nightly(settings)
    assert {o.status for o in third.values()} == {Status.SKIPPED}


def test_rebuild_says_identical_then_different_with_a_report(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    reproducible(settings.recipes, "hello")
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(tmp_path), "PKGRUN_MIRROR": str(SOURCES), "PKGRUN_ENGINE": "podman", **key_vars()}
    common = ["--recipes", str(settings.recipes), "--target", "local", "--repo", str(settings.repo)]
    assert main(["build", "hello", *common, "--json"], env=env) == 0
    capsys.readouterr()

    assert main(["rebuild", "hello", *common, "--json"], env=env) == 0
    (verdict,) = json.loads(capsys.readouterr().out)
    assert verdict["identical"] is True and verdict["report"] is None
    assert verdict["published"].endswith("repo/local/x86_64/hello-1.0-4.local.noarch.rpm")
    assert Path(verdict["rebuilt"]).parent == Path(verdict["folder"])
    assert (Path(verdict["folder"]) / "build.log").is_file()

    # a recipe whose build is not reproducible: the rebuild differs, and diffoscope says where
    script = settings.recipes / "hello" / "build.sh"
    published = script.read_text()
    noisy = published + 'date +%s%N > "$PKGRUN_DESTDIR/usr/share/hello/built-at"\n'
    script.write_text(noisy)
    assert main(["build", "hello", *common, "--iteration", "5", "--json"], env=env) == 0
    capsys.readouterr()
    assert main(["rebuild", "hello", *common, "--json"], env=env) == 1
    (verdict,) = json.loads(capsys.readouterr().out)
    assert verdict["identical"] is False
    if shutil.which("diffoscope"):
        report = Path(verdict["report"]).read_text()
        assert "built-at" in report and Path(verdict["report"]).parent == Path(verdict["folder"])

    # the recipe changed since: not its recorded inputs
    script.write_text(noisy + "# changed\n")
    assert main(["rebuild", "hello", *common], env=env) == 2
    err = capsys.readouterr().err
    assert "cannot rebuild hello-1.0-5.local.noarch.rpm from its recorded inputs: build.sh changed" in err


def test_the_nightly_job_can_rebuild_what_it_skips_to_check_it(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    reproducible(settings.recipes, "hello")
    reproducible(settings.recipes, "noisy")
    script = settings.recipes / "noisy" / "build.sh"
    script.write_text(script.read_text() + 'date +%s%N > "$PKGRUN_DESTDIR/usr/share/hello/built-at"\n')
    nightly(settings)
    recipes = load_recipes(settings.recipes)
    requests = [Request(item, TARGETS["local"], Mode.IF_CHANGED) for item in recipes]
    run = run_builds(
        requests, settings.but(verify_skipped=True), Engine(EngineName.PODMAN), NullReporter(), session_key()
    )
    outcomes = {o.recipe: o for o in run.outcomes}
    assert {o.status for o in run.outcomes} == {Status.SKIPPED}
    assert outcomes["hello"].verdict is not None and outcomes["hello"].verdict.identical
    assert outcomes["hello"].verified == "identical"
    noisy = outcomes["noisy"].verdict
    assert noisy is not None and not noisy.identical
    assert (outcomes["noisy"].verified or "").startswith("different")
    assert run.exit_code == 1  # a package that does not rebuild the same fails the job
    assert outcomes["noisy"].to_json()["verified"]["identical"] is False


def test_a_truncated_package_has_no_content_digest(tmp_path: Path) -> None:
    from pkgrun.rpm.header import UnsafeRpm

    rpm = make_rpm(tmp_path, "alpha")
    cut = tmp_path / "cut.rpm"
    cut.write_bytes(rpm.read_bytes()[:200])
    with pytest.raises(UnsafeRpm, match="not a whole RPM"):
        content_digest(cut)
