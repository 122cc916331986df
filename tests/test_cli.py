"""The CLI as a table: argv in, exit code and output out."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import RECIPES, demo_toml
from pkgrun.cli.main import main
from pkgrun.cli.parser import build_parser
from pkgrun.recipe.reserved import COMMAND_NAMES

ENV = {"PKGRUN_RECIPES": str(RECIPES)}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str, env: dict[str, str] | None = None):
    code = main(list(argv), env=ENV if env is None else env)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("argv", "code", "stdout_has", "stderr_has"),
    [
        (
            ["list"],
            0,
            [
                "php",
                "7.1.8",
                "nginx",
                "1.12.1",
                "supervisor",
                "3.1.4",
                "PyPI supervisor",
                "nginx.org",
                "libmcrypt",
            ],
            [],
        ),
        (["list", "--target", "local"], 0, ["libssl3", "dependencies for local"], []),
        (["check"], 0, ["3 recipes valid"], []),
        (["check", "nginx"], 0, ["ok nginx", "1 recipe valid"], []),
        (
            ["check", "ngnix"],
            2,
            [],
            ["no recipe 'ngnix'", "did you mean 'nginx'?", "known recipes: nginx, php, supervisor"],
        ),
        (
            ["plan", "php"],
            0,
            [
                "php-0:7.1.8-3.el7.x86_64 for el7",
                "fpm -f -s dir -t rpm -n php",
                "out/php-7.1.8-3.el7.x86_64.rpm",
            ],
            [],
        ),
        (
            ["plan", "nginx", "--version", "1.22.1", "--target", "local"],
            0,
            [
                "nginx-0:1.22.1-2.local.x86_64",
                "localhost/pkgrun-local:bookworm",
                "libssl-dev",
                "9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31",
            ],
            [],
        ),
        (
            ["plan", "php", "--version", "7.2.0"],
            2,
            [],
            [
                "php has no checksum for version 7.2.0 (known: 7.1.8, 8.2.32)",
                "sha256sum php-7.2.0.tar.xz",
                '"7.2.0" = "<the sha256>"',
                "under [source.sha256] in",
            ],
        ),
        (["plan", "php", "--iteration", "4-1"], 2, [], ["--iteration: iteration '4-1' contains '-'"]),
        (["plan", "php", "--target", "el6"], 2, [], ["invalid choice: 'el6'"]),
        (["plan"], 2, [], ["the following arguments are required: recipe"]),
        (["php", "nginx", "--version", "7.1.8"], 2, [], ["--version and --iteration apply to one recipe"]),
        (["build", "php", "--engine", "rkt"], 2, [], ["invalid choice: 'rkt'"]),
        (
            ["--recipes", "/nonexistent", "list"],
            2,
            [],
            ["recipes directory /nonexistent does not exist", "pass --recipes DIR or set PKGRUN_RECIPES"],
        ),
    ],
)
def test_cli_table(capsys, argv, code, stdout_has, stderr_has) -> None:
    got, out, err = run_cli(capsys, *argv)
    assert got == code, err
    for text in stdout_has:
        assert text in out
    for text in stderr_has:
        assert text in err
    assert "Traceback" not in out + err


def test_plan_json_carries_the_seed_command(capsys) -> None:
    code, out, _ = run_cli(capsys, "plan", "php", "--version", "7.1.8", "--json")
    assert code == 0
    plan = json.loads(out)
    argv = plan["fpm_argv"]
    assert argv[:14] == [
        "fpm",
        "-f",
        "-s",
        "dir",
        "-t",
        "rpm",
        "-n",
        "php",
        "--epoch",
        "0",
        "-v",
        "7.1.8",
        "--iteration",
        "3.el7",
    ]
    assert argv[argv.index("-C") + 1] == "/pkgrun/destdir"
    assert [argv[i + 1] for i, t in enumerate(argv) if t == "-d"][:3] == ["libjpeg", "libpng", "freetype"]
    assert argv[-2:] == ["etc", "usr"]
    assert shlex.split(plan["fpm_command"]) == argv
    assert plan["source"] == {
        "filename": "php-7.1.8.tar.xz",
        "sha256": "8943858738604acb33ecedb865d6c4051eeffe4e2d06f3a3c8f794daccaa2aab",
        "url": "https://www.php.net/distributions/php-7.1.8.tar.xz",
        "pypi": None,
    }
    assert plan["rpm"] == "out/php-7.1.8-3.el7.x86_64.rpm"
    assert plan["target"]["image"] == "centos:7"
    assert plan["build_env"]["PKGRUN_VERSION"] == "7.1.8"
    assert plan["build_env"]["PKGRUN_DESTDIR"] == "/pkgrun/destdir"


def test_plan_json_for_a_pypi_source(capsys) -> None:
    code, out, _ = run_cli(
        capsys,
        "plan",
        "supervisor",
        "--version",
        "4.2.5",
        "--target",
        "local",
        "--out",
        "/tmp/rpms",
        "--jobs",
        "3",
        "--json",
    )
    plan = json.loads(out)
    assert code == 0
    assert plan["source"]["pypi"] == "supervisor"
    assert plan["source"]["url"] is None
    assert plan["source"]["filename"] == "supervisor-4.2.5.tar.gz"
    assert plan["requires"] == ["python3", "python3-pkg-resources"]
    assert plan["build_env"]["PKGRUN_JOBS"] == "3"
    assert plan["rpm"] == "/tmp/rpms/supervisor-4.2.5-1.local.noarch.rpm"


def test_list_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert sorted(rows) == ["nginx", "php", "supervisor"]
    assert rows["nginx"]["versions"] == ["1.12.1", "1.22.1"]
    assert rows["php"]["iteration"] == "3"
    assert rows["supervisor"]["source"] == {"url": None, "pypi": "supervisor"}


def test_recipes_directory_from_option_environment_and_default(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "mine" / "demo").mkdir(parents=True)
    (tmp_path / "mine" / "demo" / "recipe.toml").write_text(demo_toml())
    (tmp_path / "mine" / "demo" / "build.sh").write_text("make install\n")

    assert run_cli(capsys, "--recipes", str(tmp_path / "mine"), "check")[0] == 0
    assert run_cli(capsys, "check", "--recipes", str(tmp_path / "mine"))[0] == 0  # after the command too
    assert run_cli(capsys, "check", env={"PKGRUN_RECIPES": str(tmp_path / "mine")})[1].startswith("ok demo")
    monkeypatch.chdir(tmp_path / "mine" / "..")
    (tmp_path / "recipes").symlink_to(tmp_path / "mine")
    assert "ok demo" in run_cli(capsys, "check", env={})[1]  # ./recipes


def test_debug_lets_the_traceback_through(capsys) -> None:
    with pytest.raises(Exception, match="no checksum"):
        main(["--debug", "plan", "php", "--version", "9.9"], env=ENV)


def test_every_command_name_is_reserved_for_recipes() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) <= COMMAND_NAMES  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["plan", "nginx", "--target", "local", "--jobs", "0"], {}, "--jobs"),
        (["plan", "nginx", "--target", "local", "--jobs", "²"], {}, "--jobs"),
        (["plan", "nginx", "--target", "local", "--jobs", "٣"], {}, "--jobs"),
        (["build", "nginx", "--target", "local", "--builds", "0"], {}, "--builds"),
        (["build", "nginx", "--target", "local", "--builds", " 2"], {}, "--builds"),
        (["publish", "x.rpm", "--keep", "0"], {}, "--keep"),
        (["publish", "x.rpm", "--keep", "1_0"], {}, "--keep"),
        (["serve", "--port", "99999"], {}, "--port"),
        (["serve", "--port", "-1"], {}, "--port"),
        (["serve", "--port", "²"], {}, "--port"),
        (["serve", "--port", "1" * 5000], {}, "--port"),
        (["serve", "--bind", "no such host!"], {}, "--bind"),
        (["serve", "--bind", "192.0.2.1"], {}, "--bind"),
        (["repo", "list"], {"PKGRUN_KEEP": "²"}, "PKGRUN_KEEP"),
        (["repo", "list"], {"PKGRUN_KEEP": "٣"}, "PKGRUN_KEEP"),
        (["repo", "list"], {"PKGRUN_MAX_DOWNLOAD": "²G"}, "PKGRUN_MAX_DOWNLOAD"),
        (["repo", "list"], {"PKGRUN_MAX_DOWNLOAD": "\u0661M"}, "PKGRUN_MAX_DOWNLOAD"),
        (["repo", "list"], {"PKGRUN_ULIMITS": "nofile=²:4096"}, "PKGRUN_ULIMITS"),
    ],
)
def test_an_odd_number_is_a_usage_error_naming_the_option(
    capsys, tmp_path: Path, argv: list[str], env: dict[str, str], named: str
) -> None:
    (tmp_path / "repo").mkdir()
    full_env = {**ENV, "PKGRUN_REPO": str(tmp_path / "repo"), "HOME": str(tmp_path), **env}
    code, out, err = run_cli(capsys, *argv, env=full_env)
    assert code == 2, (out, err)
    assert named in err and "Traceback" not in out + err


def test_a_table_in_a_log_is_never_cut_to_a_terminal_s_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output that is no terminal (a log, a pipe) keeps every cell whole, however long."""
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run_cli(capsys, "list", "--target", "el7")
    assert code == 0
    php = next(line for line in out.splitlines() if "│ php " in line)
    assert "…" not in out
    assert "libjpeg libpng freetype libxml2 zlib glibc glib2 bzip2 curl e2fsprogs openssl" in php
    assert len(php) > 120


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"]])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    """`pkgrun list | head -1`: the reader has gone; pkgrun stops quietly with exit status 1,
    whether rich drew the output (a table) or pkgrun wrote it (JSON), and never says "internal
    error"."""
    read, write = os.pipe()
    os.close(read)  # every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pkgrun", "--recipes", str(RECIPES), *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")
