"""A package that comes back from a container is checked on this machine, before it is signed,
against the staged tree this machine holds (the compile's archive plus what staging adds from
the recipe), whatever the container's own listing says: through the pipeline with the fake
engine, which tampers where a build host or a process the build script left behind could."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from pkgrun.build.plan import Options, make_plan
from pkgrun.build.staged_tree import Node, differences
from pkgrun.pipeline.outcome import Status
from pkgrun.recipe.directory import load_recipes
from pkgrun.repo.data import list_published
from pkgrun.rpm.header import HeaderFile, header_files
from pkgrun.rpm.query import read_rpm
from pkgrun.targets import TARGETS
from test_pipeline import build, host_tools, settings_for  # noqa: F401 (an autouse fixture)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    return FakeEngine(tmp_path / "engine").install(monkeypatch)


def staging(engine: FakeEngine) -> Path:
    (root,) = engine.containers.values()  # the build's container (the install test's comes later)
    return root / "pkgrun" / "destdir"


def retarget(link: Path, target: str) -> None:
    link.unlink()
    link.symlink_to(target)


# what is done to the staging directory, and when: "listing" as the container lists it after
# staging (the container's listing then agrees), "packaging" as the packager starts
TAMPERING = {
    "content": (
        "packaging",
        lambda d: (d / "usr/bin/hello").write_text("echo other\n"),
        "/usr/bin/hello: its content differs",
    ),
    "a file added": (
        "listing",
        lambda d: (d / "usr/bin/extra").write_text("x\n"),
        "/usr/bin/extra: not in the staged tree",
    ),
    "setuid": (
        "listing",
        lambda d: os.chmod(d / "usr/bin/hello", 0o4755),
        "/usr/bin/hello: mode 4755, staged 0755",
    ),
    "a link retargeted": (
        "listing",
        lambda d: retarget(d / "usr/bin/hi", "/bin/sh"),
        "/usr/bin/hi: links to /bin/sh, staged to hello",
    ),
    "an added file's content": (
        "listing",
        lambda d: (d / "usr/share/hello/README").write_text("?\n"),
        "/usr/share/hello/README: its content differs",
    ),
}


@pytest.mark.parametrize(("tampering", "target"), [(t, "local") for t in TAMPERING] + [("content", "el9")])
def test_a_package_unlike_the_staged_tree_is_refused_before_it_is_signed(
    engine: FakeEngine, tmp_path: Path, tampering: str, target: str
) -> None:
    settings = settings_for(tmp_path)
    when, change, said = TAMPERING[tampering]

    def tamper(argv: list[str]) -> None:
        at_listing = "find" in argv and "-printf" in argv
        at_packaging = "exec" in argv and any(a.endswith("nfpm") or a == "fpm" for a in argv)
        if (when == "listing" and at_listing) or (when == "packaging" and at_packaging):
            change(staging(engine))

    engine.fail = tamper  # type: ignore[assignment]
    (outcome,) = build(settings, target).outcomes
    assert outcome.status is Status.FAILED
    assert said in (outcome.error or ""), outcome.error
    assert "from this machine's podman is not what was staged" in (outcome.error or "")
    assert not any("rpmsign" in " ".join(argv) for argv in engine.calls)
    assert list_published(settings.repo) == [] and not list(settings.out_dir.glob("*.rpm"))


def test_a_reused_compile_is_checked_too(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, publish=False)
    (first,) = build(settings).outcomes
    assert first.status is Status.BUILT, first.error

    def tamper(argv: list[str]) -> None:
        if "find" in argv and "-printf" in argv:
            (staging(engine) / "usr/bin/hello").write_text("echo other\n")

    engine.fail = tamper  # type: ignore[assignment]
    (second,) = build(settings).outcomes
    assert second.status is Status.FAILED
    assert "/usr/bin/hello: its content differs" in (second.error or "")


def test_the_header_reader_lists_what_rpm_lists(engine: FakeEngine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, publish=False)
    for target in ("local", "el8"):
        (outcome,) = build(settings, target).outcomes
        assert outcome.status is Status.BUILT, (outcome.error, outcome.log_tail)
        rpm = Path(outcome.rpm or "")
        files, algorithm = header_files(rpm)
        assert algorithm == "sha256"
        expected = [(f.path, f.octal, f.digest, f.user, f.group) for f in read_rpm(rpm).files]
        assert [(f.path, f.mode, f.digest, f.user, f.group) for f in files] == expected
        links = subprocess.run(
            ["rpm", "-qp", "--qf", "[%{FILELINKTOS}\n]", str(rpm)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert [f.link for f in files] == links
        assert "hello" in links


def test_what_the_package_lacks_or_owns_otherwise_is_named(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (hello,) = load_recipes(settings.recipes, ["hello"])
    plan = make_plan(hello, TARGETS["local"], out_dir=tmp_path, options=Options())
    tree = {
        "/usr": Node("directory", 0o755),
        "/usr/bin": Node("directory", 0o755),
        "/usr/bin/hello": Node("file", 0o755, "ab"),
        "/usr/bin/hi": Node("link", 0o777, link="hello"),
        "/opt/elsewhere": Node("file", 0o644, "cd"),  # not under [files] paths: never packaged
    }
    listed = [HeaderFile("/usr/bin/hello", 0o100755, "ab", "", "daemon", "root")]
    assert differences(listed, tree, plan) == [
        "/usr/bin/hello: owned by daemon:root, staged for root:root",
        "staged, not in the package: /usr/bin/hi",
    ]
    listed = [
        HeaderFile("/usr/bin/hello", 0o040755, "", "", "root", "root"),
        HeaderFile("/usr/bin/hi", 0o120777, "", "hello", "root", "root"),
    ]
    assert differences(listed, tree, plan) == [
        "/usr/bin/hello: a directory in the package, a file in the staged tree"
    ]
