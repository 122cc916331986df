"""A recipe's mistakes are found as early as they can be, naming the file and the field: a
[files] config path or directories pattern that matches nothing the build staged fails the
stage step with the staged paths nearest to it, before anything is packaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_engine import FakeEngine
from pkgrun.outcome import Status
from test_pipeline import build, settings_for

pytestmark = pytest.mark.usefixtures("pipeline_tools")


@pytest.mark.parametrize(
    ("line", "wrong", "said"),
    [
        (
            'config = ["/etc/hello/hello.conf"]',
            'config = ["/etc/hello.conf"]',
            "files.config[0]: /etc/hello.conf is not a path the build staged; "
            "staged nearest to it: /etc/hello/hello.conf",
        ),
        (
            'directories = ["/usr/share/hello", "/etc/hello"]',
            'directories = ["/usr/share/hello", "/etc/hello*/x*"]',
            "files.directories[1]: /etc/hello*/x* matches no directory the build staged",
        ),
    ],
)
def test_a_files_path_that_matches_nothing_fails_the_stage_step_naming_the_field(
    engine: FakeEngine, tmp_path: Path, line: str, wrong: str, said: str
) -> None:
    settings = settings_for(tmp_path)
    recipe = settings.recipes / "hello" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace(line, wrong))
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.FAILED
    assert outcome.error is not None and outcome.error.startswith(f"{recipe}: {said}")
    assert outcome.exception is not None and "fix the" in str(outcome.exception.hint)
    assert "bug in pkgrun" not in str(outcome.exception.hint)
    assert not any("nfpm" in " ".join(argv) for argv in engine.calls)  # nothing was packaged


def test_directories_nobody_owns_fail_the_stage_step_with_the_line_to_add(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    recipe = settings.recipes / "hello" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('directories = ["/usr/share/hello", "/etc/hello"]\n', ""))
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.FAILED
    assert outcome.error == (
        f"{recipe}: files.directories: the package's files need 2 directories that no package owns "
        "(/etc/hello, /usr/share/hello): rpm would create them and leave them behind on removal"
    )
    assert outcome.exception is not None
    assert 'in [files], `directories = ["/etc/hello", "/usr/share/hello"]`' in str(outcome.exception.hint)
    assert not any("nfpm" in " ".join(argv) for argv in engine.calls)  # nothing was packaged


def test_the_directories_a_package_needs_and_the_line_that_owns_them() -> None:
    from pkgrun.staging import Entry, directories_line, needed_directories
    from pkgrun.system_dirs import SYSTEM_DIRS

    entries = [
        Entry("d", 0o755, "/usr"),
        Entry("f", 0o644, "/usr/lib/systemd/system/greetd.service"),  # systemd's directory
        Entry("f", 0o644, "/usr/local/share/greet/doc/a/b.txt"),
        Entry("l", 0o777, "/opt/greet/bin/greet", "../lib/greet"),
        Entry("d", 0o755, "/var/lib/greetd"),
    ]
    needed = needed_directories(entries, ["/var/lib/greetd"], SYSTEM_DIRS)
    assert needed == [
        "/opt/greet",
        "/opt/greet/bin",
        "/usr",
        "/usr/lib",
        "/usr/local/share/greet",
        "/usr/local/share/greet/doc",
        "/usr/local/share/greet/doc/a",
        "/var",
        "/var/lib",
    ]  # fmt: skip: /opt, /usr/local/share and systemd's are the system's
    # of those, what the system lacks: the topmost, after what the recipe owns already
    missing = ["/opt/greet", "/opt/greet/bin", "/usr/local/share/greet", "/usr/local/share/greet/doc"]
    assert directories_line(["/var/lib/greetd"], missing) == (
        'directories = ["/var/lib/greetd", "/opt/greet", "/usr/local/share/greet"]'
    )


def test_unknown_required_names_fail_before_the_compile_naming_the_field(
    engine: FakeEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    recipe = settings.recipes / "hello" / "recipe.toml"
    text = recipe.read_text().replace(
        'apt = ["dash", "coreutils >= 8.0"]', 'apt = ["dash", "coreutilz >= 8.0"]'
    )
    recipe.write_text(text + '\n[build.requires]\napt = ["make", "gcc-nosuch"]\n')
    engine.unknown = {"coreutilz", "gcc-nosuch"}
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.FAILED
    assert outcome.error == (
        f"{recipe}: 2 requirement(s) that local's repositories do not have "
        "(build.requires.apt: gcc-nosuch; requires.apt: coreutilz)"
    )
    assert outcome.exception is not None and "Nothing was compiled" in str(outcome.exception.hint)
    assert not any("bash" in argv for argv in engine.calls)  # no build script ran
    assert not any(argv[1:2] == ["build"] for argv in engine.calls)  # nor the build image made

    # fixed, the names are found, and remembered: the next build asks nothing
    def looked() -> list[list[str]]:
        return [argv for argv in engine.calls if "apt-get update -qq" in " ".join(argv)]

    recipe.write_text(text.replace("coreutilz", "coreutils") + '\n[build.requires]\napt = ["make"]\n')
    engine.unknown = set()
    assert build(settings).outcomes[0].status is Status.BUILT
    assert len(looked()) == 2 and looked()[-1][-3:] == ["coreutils", "dash", "make"]
    build(settings)
    assert len(looked()) == 2
