"""A recipe's mistakes are found as early as they can be, naming the file and the field: a
[files] config path or directories pattern that matches nothing the build staged fails the
stage step with the staged paths nearest to it, before anything is packaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_engine import FakeEngine
from pkgrun.pipeline.outcome import Status
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
        f"{recipe}: files.directories: the package's files need 2 directories that neither the package "
        "nor local's system with the recipe's requirements has (/etc/hello, /usr/share/hello): rpm would "
        "create them and leave them behind on removal"
    )
    assert outcome.exception is not None
    assert 'in [files], `directories = ["/etc/hello", "/usr/share/hello"]`' in str(outcome.exception.hint)
    assert not any("nfpm" in " ".join(argv) for argv in engine.calls)  # nothing was packaged


def test_the_directories_a_package_needs_and_the_line_that_owns_them() -> None:
    from pkgrun.build.staging import Entry, directories_line, needed_directories
    from pkgrun.build.system_dirs import EL_FILESYSTEM_DIRS

    entries = [
        Entry("d", 0o755, "/usr"),
        Entry("f", 0o644, "/usr/lib/systemd/system/greetd.service"),  # systemd's, found in the image
        Entry("f", 0o644, "/usr/local/share/greet/doc/a/b.txt"),
        Entry("l", 0o777, "/opt/greet/bin/greet", "../lib/greet"),
        Entry("d", 0o755, "/var/lib/greetd"),
    ]
    needed = needed_directories(entries, ["/var/lib/greetd"], ("/", *EL_FILESYSTEM_DIRS))
    assert needed == [
        "/opt/greet",
        "/opt/greet/bin",
        "/usr",
        "/usr/lib",
        "/usr/lib/systemd",
        "/usr/lib/systemd/system",
        "/usr/local/share/greet",
        "/usr/local/share/greet/doc",
        "/usr/local/share/greet/doc/a",
        "/var",
        "/var/lib",
    ]  # fmt: skip: /opt and /usr/local/share are el's filesystem package's
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


def test_a_directory_the_requirements_bring_is_the_system_s_and_others_are_named(
    engine: FakeEngine, tmp_path: Path
) -> None:
    """/etc/hello comes with a package the recipe requires (as /etc/httpd comes with httpd):
    the runtime image with the requirements installed has it, so only /usr/share/hello is
    the package's to own, and the hint says where another package's directory comes from."""
    settings = settings_for(tmp_path)
    recipe = settings.recipes / "hello" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('directories = ["/usr/share/hello", "/etc/hello"]\n', ""))
    engine.requirement_dirs = {"/etc/hello"}
    (outcome,) = build(settings).outcomes
    assert outcome.error == (
        f"{recipe}: files.directories: the package's files need 1 directory that neither the package "
        "nor local's system with the recipe's requirements has (/usr/share/hello): rpm would create "
        "it and leave it behind on removal"
    )
    assert outcome.exception is not None
    hint = str(outcome.exception.hint)
    assert 'in [files], `directories = ["/usr/share/hello"]`' in hint
    assert "put that package in [requires]" in hint and "[build.requires]" not in hint
    # the directories were those of the runtime image made with the requirements installed
    made = [" ".join(argv) for argv in engine.calls if argv[1:2] == ["build"]]
    assert any("pkgrun-runtime-local" in argv for argv in made), made


def test_a_name_pkgrun_s_repository_provides_is_found_there(engine: FakeEngine, tmp_path: Path) -> None:
    """A requirement published by pkgrun before (another recipe's package, not built in this
    run) is what a server takes from pkgrun's repository: no unknown name, nothing asked of
    the distribution's repositories for it, nor installed from them."""
    from helpers import key_vars, make_rpm
    from pkgrun.cli.main import main

    settings = settings_for(tmp_path)
    rpm = make_rpm(tmp_path / "built", "libdemo", arch="noarch")
    argv = ["publish", "--repo", str(settings.repo), "--target", "local", str(rpm)]
    # published signed, and recorded where the build's publish reads pkgrun's records
    assert main(argv, env={**key_vars(), "XDG_STATE_HOME": str(tmp_path / "xdg-state")}) == 0
    settings = settings.but(state_dir=tmp_path / "xdg-state" / "pkgrun")
    recipe = settings.recipes / "hello" / "recipe.toml"
    recipe.write_text(
        recipe.read_text().replace('apt = ["dash", "coreutils >= 8.0"]', 'apt = ["dash", "libdemo"]')
    )
    engine.unknown = {"libdemo"}  # the distribution has no such package
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.BUILT, outcome.error
    looked = [argv for argv in engine.calls if "apt-get update -qq" in " ".join(argv)]
    assert looked and all("libdemo" not in argv[4:] for argv in looked)
