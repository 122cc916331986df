"""Recipes that need each other, for real: libgreet (a shared library) and greet (a program built
against it and requiring it at run time), through `pkgrun build` and `pkgrun nightly` on the
local target; and the checks a packager would make: every library found, nothing left behind,
no staging path in the payload."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import TEST_RECIPES, TEST_SOURCES
from pkgrun.cli.main import main

FAMILY = TEST_RECIPES / "family"


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    shutil.copytree(FAMILY, tmp_path / "recipes")
    return tmp_path / "recipes"


def build(recipes: Path, tmp_path: Path, podman: str, *names: str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["--recipes", str(recipes), "build", *names, "--target", "local", "--engine", podman,
            "--mirror", str(TEST_SOURCES), "--out", str(tmp_path / "out"),
            "--repo", str(tmp_path / "repo"), "--json", *extra]  # fmt: skip


def requires_of(rpm: Path, what: str = "--requires") -> list[str]:
    out = subprocess.run(["rpm", "-qp", what, str(rpm)], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_a_program_and_the_library_it_needs(
    podman, build_env, recipes, tmp_path, capsys, no_leftover_containers
) -> None:
    # only greet is named: libgreet, which it needs to build and to run, is built first
    assert main(build(recipes, tmp_path, podman, "greet"), env=build_env) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in first["built"]] == ["libgreet", "greet"]
    assert sorted(p["nevra"] for p in first["published"]) == [
        "greet-0:1.0-1.local.x86_64",
        "libgreet-0:1.0-1.local.x86_64",
    ]
    greet = next(b for b in first["built"] if b["name"] == "greet")
    assert "libgreet >= 1.0" in greet["requires"]
    steps = greet["install_test"]["steps"]
    assert "every library is found" in steps and steps[-1] == "nothing left behind"
    # the hand-written requirement, and what rpm's generators found: libgreet's soname, glibc's
    # versioned symbols; the library provides its soname
    requires = requires_of(Path(greet["rpm"]))
    assert {"libgreet >= 1.0", "libgreet.so.1()(64bit)", "rtld(GNU_HASH)"} <= set(requires)
    assert any(r.startswith("libc.so.6(GLIBC_") for r in requires)
    libgreet = next(b for b in first["built"] if b["name"] == "libgreet")
    assert "libgreet.so.1()(64bit)" in requires_of(Path(libgreet["rpm"]), "--provides")
    log = Path(greet["log"]).read_text()
    assert "rpm -U --nodeps --replacepkgs /pkgrun/deps/libgreet-1.0-1.local.x86_64.rpm" in log
    # installed by name with dnf, libgreet offered beside it; rpm checked every requirement
    assert "+ [install greet by name from pkgrun's repositories, the image's repositories enabled] " in log
    assert "dnf --setopt=best=True --releasever=12 install -y greet" in log

    # libgreet is published now: a build of greet uses it instead of building it again
    assert main(build(recipes, tmp_path, podman, "greet", extra=("--iteration", "2")), env=build_env) == 0
    second = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in second["built"]] == ["greet"]
    # the published release installed by name, then upgraded by name to the new one
    log = Path(second["built"][0]["log"]).read_text()
    assert "dnf --setopt=best=True --releasever=12 install -y --disablerepo=pkgrun-new greet" in log
    assert "dnf --setopt=best=True --releasever=12 upgrade -y greet" in log
    assert second["skipped"] == [
        {
            "name": "libgreet",
            "reason": "needed by a named recipe: libgreet-1.0-1.local.x86_64.rpm is published",
        }
    ]

    # the nightly job builds the same family the same way; here, nothing changed since
    (tmp_path / "pkgrun.toml").write_text('[nightly]\ntargets = ["local"]\n')
    env = dict(build_env, PKGRUN_REPO=str(tmp_path / "repo"), PKGRUN_CONFIG=str(tmp_path / "pkgrun.toml"))
    code = main(
        ["--recipes", str(recipes), "nightly", "--engine", podman, "--mirror", str(TEST_SOURCES),
         "--out", str(tmp_path / "out"), "--reports", str(tmp_path / "reports"), "--json"],
        env=env,
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {b["recipe"]: b["status"] for b in report["builds"]} == {"libgreet": "skipped", "greet": "skipped"}


def test_the_soname_alone_brings_the_library_and_without_it_the_install_test_fails(
    podman, build_env, recipes, tmp_path, capsys, no_leftover_containers
) -> None:
    recipe = recipes / "greet" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('recipes = ["libgreet >= 1.0"]', ""))
    assert main(build(recipes, tmp_path, podman, "libgreet"), env=build_env) == 0
    capsys.readouterr()
    # with the generators off, nothing requires the library: the install test finds it missing
    text = recipe.read_text()
    recipe.write_text(text + "\n[autodeps]\nenabled = false\n")
    assert main(build(recipes, tmp_path, podman, "greet"), env=build_env) == 1
    err = capsys.readouterr().err
    assert "install test of greet failed at 'every library is found'" in err
    assert "/usr/local/bin/greet needs libgreet.so.1" in err
    # no hand-written requirement: the generated soname makes dnf take the published libgreet
    recipe.write_text(text)
    assert main(build(recipes, tmp_path, podman, "greet"), env=build_env) == 0, capsys.readouterr().err
    log = Path(json.loads(capsys.readouterr().out)["built"][0]["log"]).read_text()
    # dnf's transaction: libgreet installed from the published repository, as a dependency
    assert any("libgreet" in line and "pkgrun-published" in line for line in log.splitlines()), log


def add_to_build(recipes: Path, line: str) -> None:
    script = recipes / "libgreet" / "build.sh"
    script.write_text(script.read_text() + line + "\n")


def test_a_directory_nobody_owns_fails_at_staging_with_the_line_to_add(
    podman, build_env, recipes, tmp_path, capsys, no_leftover_containers
) -> None:
    add_to_build(recipes, 'install -D -m 0644 greet.h "$PKGRUN_DESTDIR/usr/local/share/greet/doc/greet.h"')
    add_to_build(recipes, 'install -D -m 0644 greet.h "$PKGRUN_DESTDIR/usr/local/share/greet-extra/greet.h"')
    assert main(build(recipes, tmp_path, podman, "libgreet"), env=build_env) == 1
    err = " ".join(capsys.readouterr().err.split())
    # at staging, before packaging, signing, lint and the install test; every directory at once
    assert "install test" not in err
    assert (
        "files.directories: the package's files need 3 directories that neither the package nor "
        "local's system with the recipe's requirements has"
    ) in err
    line = 'directories = ["/usr/local/share/greet", "/usr/local/share/greet-extra"]'
    assert f"in [files], `{line}`" in err
    # the line, as given, makes the package clean: the install test finds nothing left behind
    recipe = recipes / "libgreet" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('paths = ["usr"]', f'paths = ["usr"]\n{line}'))
    assert main(build(recipes, tmp_path, podman, "libgreet"), env=build_env) == 0, capsys.readouterr().err


def test_the_staging_path_in_a_file_is_refused(
    podman, build_env, recipes, tmp_path, capsys, no_leftover_containers
) -> None:
    add_to_build(
        recipes, 'echo "prefix=$PKGRUN_DESTDIR/usr/local" > "$PKGRUN_DESTDIR/usr/local/lib/greet.pc"'
    )
    assert main(build(recipes, tmp_path, podman, "libgreet"), env=build_env) == 1
    err = capsys.readouterr().err
    assert "1 staged file(s) hold the staging directory's path /pkgrun/destdir" in err
    assert "/usr/local/lib/greet.pc" in err


def test_an_upgrade_whose_requirements_do_not_resolve_fails_by_name(
    podman, build_env, recipes, tmp_path, capsys, no_leftover_containers
) -> None:
    """dnf with best=True: the new release requires what no repository has, so the upgrade by
    name fails with the resolver's words (Debian's best=False would keep the old release and
    exit 0)."""
    assert main(build(recipes, tmp_path, podman, "greet"), env=build_env) == 0, capsys.readouterr().err
    capsys.readouterr()
    recipe = recipes / "greet" / "recipe.toml"
    recipe.write_text(
        recipe.read_text().replace('recipes = ["libgreet >= 1.0"]', 'recipes = ["libgreet >= 2.0"]')
    )
    assert main(build(recipes, tmp_path, podman, "greet", extra=("--iteration", "2")), env=build_env) == 1
    err = capsys.readouterr().err
    assert "install test of greet failed at 'upgrade greet by name from pkgrun's repositories" in err
    assert "libgreet >= 2.0" in err and "greet-1.0-2.local.x86_64" in err
