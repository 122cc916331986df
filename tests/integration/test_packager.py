"""The nfpm RPM against what the recipe and its fpm argv say, read back with rpm."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import TEST_RECIPES, TEST_SOURCES
from pkgrun.build.fpm import FpmPaths, fpm_argv
from pkgrun.cli.main import main
from pkgrun.recipe.directory import load_recipes
from pkgrun.targets import TARGETS


def query(rpm: Path, fmt: str) -> list[str]:
    return subprocess.run(
        ["rpm", "-qp", "--qf", fmt, str(rpm)], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, token in enumerate(argv[:-1]) if token == flag]


def test_nfpm_rpm_matches_recipe_and_fpm_argv(podman, build_env, tmp_path, capsys) -> None:
    recipes = ["--recipes", str(TEST_RECIPES / "good")]
    # what fpm would be given for the same recipe and target (local itself packages with nfpm)
    (hello,) = load_recipes(TEST_RECIPES / "good", ["hello"])
    paths = FpmPaths(staging="/S", workdir="/W", hooks="/H", package="/O/hello.rpm")
    argv = fpm_argv(hello.recipe, "1.0", TARGETS["local"], paths)
    code = main(
        [
            *recipes,
            "build",
            "hello",
            "--target",
            "local",
            "--engine",
            podman,
            "--packager",
            "nfpm",
            "--mirror",
            str(TEST_SOURCES),
            "--out",
            str(tmp_path),
        ],
        env=build_env,
    )
    assert code == 0, capsys.readouterr().err
    rpm = tmp_path / "hello-1.0-4.local.noarch.rpm"

    assert query(rpm, "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{PAYLOADCOMPRESSOR}") == [
        "|".join(
            [
                flag_values(argv, "-n")[0],
                flag_values(argv, "--epoch")[0],
                flag_values(argv, "-v")[0],
                flag_values(argv, "--iteration")[0],
                flag_values(argv, "-a")[0],
                flag_values(argv, "--rpm-compression")[0],
            ]
        )
    ]
    assert query(rpm, "%{SUMMARY}|%{LICENSE}|%{URL}|%{VENDOR}|%{PACKAGER}") == [
        "|".join(flag_values(argv, f)[0] for f in ("--rpm-summary", "--license", "--url", "--vendor", "-m"))
    ]
    manual = [
        line.split("\t")[1]
        for line in query(rpm, "[%{REQUIREFLAGS:deptype}\t%{REQUIRENEVRS}\n]")
        if line.startswith("manual\t")
    ]
    # what the recipe requires, and /bin/sh for the scriptlets, which rpmbuild adds by itself
    assert manual == [*flag_values(argv, "-d"), "/bin/sh"] == ["dash", "coreutils >= 8.0", "/bin/sh"]

    files = {
        line.split(" ", 3)[3]: line.split(" ", 3)[:3]
        for line in query(
            rpm, "[%{FILEFLAGS:fflags}_ %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]"
        )
    }
    assert sorted(p for p, (flags, _, _) in files.items() if "c" in flags) == flag_values(
        argv, "--config-files"
    )
    assert sorted(p for p, (_, mode, _) in files.items() if mode.startswith("d")) == sorted(
        flag_values(argv, "--directories")
    )
    assert files["/usr/bin/hello"][1:] == ["-rwxr-xr-x", "root:root"]
    assert files["/etc/hello/hello.conf"][1] == "-rw-r--r--"
    assert "/usr/bin/hi" in files  # the symlink
    assert "/usr/share/hello/README" in files  # [files.add]
    assert {owner for _, _, owner in files.values()} == {"root:root"}
    assert "/usr" not in files and "/usr/bin" not in files

    hooks = TEST_RECIPES / "good" / "hello"
    scripts = subprocess.run(
        ["rpm", "-qp", "--qf", "%{PREIN}\x1f%{POSTIN}\x1f%{POSTUN}", str(rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\x1f")
    assert [s.strip() for s in scripts] == [
        (hooks / name).read_text().strip()
        for name in ("before_install.sh", "after_install.sh", "after_remove.sh")
    ]
    build_env_line = subprocess.run(["rpm2cpio", str(rpm)], capture_output=True, check=True).stdout
    assert b"hello 1.0 local" in build_env_line  # the build saw its PKGRUN_* variables
