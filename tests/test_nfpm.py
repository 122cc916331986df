"""nfpm's config is the fpm argv's twin: the same package, said to another packager."""

from __future__ import annotations

from pathlib import Path

from helpers import RECIPES, demo, seed_recipe
from pkgrun.build.container_commands import stage_argv
from pkgrun.build.fpm import FpmPaths, fpm_argv
from pkgrun.build.nfpm import fpm_style_scripts, nfpm_config
from pkgrun.build.plan import Options, make_plan
from pkgrun.build.staging import (
    Entry,
    expand_directories,
    find_argv,
    owned_directories,
    parse_listing,
    unsafe_names,
)
from pkgrun.pipeline.compiling import unpack_argv
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.targets import TARGETS

STAGED = [
    Entry("d", 0o755, "/etc"),
    Entry("d", 0o755, "/etc/supervisord.d"),
    Entry("f", 0o644, "/etc/supervisord.conf"),
    Entry("f", 0o644, "/etc/supervisord.d/nginx.ini"),
    Entry("f", 0o644, "/etc/supervisord.d/php-fpm.ini"),
    Entry("d", 0o755, "/usr"),
    Entry("d", 0o755, "/usr/bin"),
    Entry("f", 0o755, "/usr/bin/supervisord"),
    Entry("l", 0o777, "/usr/bin/supervisor", "supervisord"),
    Entry("d", 0o755, "/usr/lib/python3/dist-packages/supervisor"),
    Entry("d", 0o755, "/usr/lib/python3/dist-packages/supervisor/medusa"),
    Entry("f", 0o644, "/usr/lib/python3/dist-packages/supervisor/__init__.py"),
    Entry("d", 0o755, "/usr/lib/python3/dist-packages/supervisor-4.2.5.egg-info"),
]


def supervisor_plan():
    return make_plan(
        LoadedRecipe(seed_recipe("supervisor"), RECIPES / "supervisor"),
        TARGETS["local"],
        out_dir=Path("out"),
        options=Options(make_jobs=2),
        version="4.2.5",
    )


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, token in enumerate(argv[:-1]) if token == flag]


def test_nfpm_config_says_what_fpm_argv_says() -> None:
    plan = supervisor_plan()
    recipe = plan.loaded.recipe
    directories = expand_directories(recipe.files.directories, STAGED)
    argv = fpm_argv(
        recipe, plan.version, plan.target, FpmPaths("/S", "/W", "/R", "/O/x.rpm"), directories=directories
    )
    config = nfpm_config(
        plan.nfpm_config or {},
        recipe.files.config,
        STAGED,
        owned_directories(directories, STAGED),
        staging="/S",
        scripts={"preinstall": "/T/preinstall"},
    )

    assert config["name"] == flag_values(argv, "-n")[0] == "supervisor"
    assert config["epoch"] == flag_values(argv, "--epoch")[0] == "0"
    assert config["version"] == flag_values(argv, "-v")[0] == "4.2.5"
    assert config["release"] == flag_values(argv, "--iteration")[0] == "1.local"
    assert config["arch"] == flag_values(argv, "-a")[0] == "noarch"
    assert flag_values(argv, "-d") == ["python3", "python3-pkg-resources"]
    # rpmbuild adds /bin/sh for the scriptlets by itself; nfpm is given it
    assert config["depends"] == [*flag_values(argv, "-d"), "/bin/sh"]
    assert config["rpm"]["compression"] == flag_values(argv, "--rpm-compression")[0] == "gzip"
    assert config["rpm"]["summary"] == flag_values(argv, "--rpm-summary")[0]
    assert config["license"] == flag_values(argv, "--license")[0]
    assert config["homepage"] == flag_values(argv, "--url")[0]
    assert config["maintainer"] == flag_values(argv, "-m")[0] == config["rpm"]["packager"]
    assert config["vendor"] == flag_values(argv, "--vendor")[0]
    assert config["description"] == flag_values(argv, "--description")[0]
    assert config["version_schema"] == "none"  # 4.2.5 stays 4.2.5, never reshaped as semver

    by_path = {c["dst"]: c for c in config["contents"]}
    marked = sorted(p for p, c in by_path.items() if c["type"] == "config|noreplace")
    assert marked == sorted(flag_values(argv, "--config-files"))
    assert sorted(p for p, c in by_path.items() if c["type"] == "dir") == [
        "/etc/supervisord.d",  # --directories owns every directory under the listed ones
        "/usr/lib/python3/dist-packages/supervisor",
        "/usr/lib/python3/dist-packages/supervisor-4.2.5.egg-info",
        "/usr/lib/python3/dist-packages/supervisor/medusa",
    ]
    assert flag_values(argv, "--directories") == [
        "/etc/supervisord.d",
        "/usr/lib/python3/dist-packages/supervisor",
        "/usr/lib/python3/dist-packages/supervisor-4.2.5.egg-info",
    ]
    assert "/usr" not in by_path and "/usr/bin" not in by_path  # unowned, as with fpm
    assert by_path["/usr/bin/supervisord"] == {
        "src": "/S/usr/bin/supervisord",
        "dst": "/usr/bin/supervisord",
        "type": "",
        "file_info": {"mode": 0o755, "owner": "root", "group": "root"},
    }
    assert by_path["/usr/bin/supervisor"]["type"] == "symlink"
    assert by_path["/usr/bin/supervisor"]["src"] == "supervisord"


def test_a_config_directory_marks_every_file_in_it() -> None:
    recipe = demo('[files]\npaths = ["etc"]\nconfig = ["/etc/demo"]\n')
    plan = make_plan(
        LoadedRecipe(recipe, Path("demo")), TARGETS["local"], out_dir=Path("o"), options=Options()
    )
    entries = [
        Entry("f", 0o644, "/etc/demo/a.conf"),
        Entry("f", 0o644, "/etc/demo/sub/b.conf"),
        Entry("f", 0o644, "/etc/demo.conf"),
    ]
    config = nfpm_config(plan.nfpm_config or {}, recipe.files.config, entries, [], staging="/S", scripts={})
    assert [c["dst"] for c in config["contents"] if c["type"] == "config|noreplace"] == [
        "/etc/demo/a.conf",
        "/etc/demo/sub/b.conf",
    ]


def test_scripts_are_used_as_they_are_without_upgrade_hooks() -> None:
    hooks = {"before-install": "echo pre", "after-install": "echo post", "after-remove": "echo postun"}
    assert fpm_style_scripts(hooks) == {
        "preinstall": "echo pre",
        "postinstall": "echo post",
        "postremove": "echo postun",
    }


def test_upgrade_hooks_are_wrapped_as_fpm_does() -> None:
    """Golden: the scriptlets fpm 1.17.0's rpm template made from these hooks, as rpm -qp printed
    them (checked against real fpm; rpm drops the final newline)."""
    scripts = fpm_style_scripts(
        {"before-install": "echo bi\n", "after-upgrade": "echo au\n", "before-remove": "echo br\n"}
    )
    assert scripts == {
        "preinstall": "upgrade() {\n    :\n}\n_install() {\n    :\necho bi\n\n}\n"
        'if [ "${1}" -eq 1 ]\nthen\n    # "before install" goes here\n    _install\n'
        'elif [ "${1}" -gt 1 ]\nthen\n    # "before upgrade" goes here\n    upgrade\nfi\n',
        "postinstall": "upgrade() {\n    :\necho au\n\n}\n_install() {\n    :\n}\n"
        'if [ "${1}" -eq 1 ]\nthen\n    # "after install" goes here\n    _install\n'
        'elif [ "${1}" -gt 1 ]\nthen\n    # "after upgrade" goes here\n    upgrade\nfi\n',
        "preremove": 'if [ "${1}" -eq 0 ]\nthen\n    :\necho br\n\nfi\n',
    }


def test_listing_round_trip_keeps_odd_names() -> None:
    output = (
        "\x00".join(
            [
                "f",
                "644",
                "usr/share/a file",
                "",
                "l",
                "777",
                "usr/bin/x",
                "../y",
                "d",
                "755",
                "etc/new\nline",
                "",
            ]
        )
        + "\x00"
    )
    assert parse_listing(output) == [  # sorted by path, whatever order find listed them in
        Entry("d", 0o755, "/etc/new\nline"),
        Entry("l", 0o777, "/usr/bin/x", "../y"),
        Entry("f", 0o644, "/usr/share/a file"),
    ]
    assert find_argv("/S", ["etc", "usr"]) == ["find", "etc", "usr", "-printf", "%y\\0%m\\0%p\\0%l\\0"]


def test_directory_patterns_must_match() -> None:
    import pytest

    from pkgrun.errors import PkgrunError

    with pytest.raises(PkgrunError, match="matches no directory"):
        expand_directories(["/usr/lib/python*/*-packages/nothing"], STAGED)


def test_container_commands_pass_recipe_paths_as_arguments() -> None:
    plan = make_plan(
        LoadedRecipe(seed_recipe("nginx"), RECIPES / "nginx"),
        TARGETS["local"],
        out_dir=Path("o"),
        options=Options(),
        version="1.22.1",
    )
    assert unpack_argv(plan) == [
        "tar",
        "-xf",
        "/pkgrun/source/nginx-1.22.1.tar.gz",
        "-C",
        "/pkgrun/build/src",
        "--strip-components=1",
        "--no-same-owner",
    ]
    argv = stage_argv(plan)
    assert argv[:2] == ["sh", "-c"] and argv[3:5] == ["sh", "/pkgrun/destdir"]
    assert argv[5:7] == ["/pkgrun/recipe/conf/nginx.conf", "/usr/local/nginx/conf/nginx.conf"]
    assert argv[-2:] == ["--", "/usr/local/nginx"]


def test_names_a_package_cannot_hold_are_named_safely() -> None:
    entries = [
        Entry("f", 0o644, "/usr/share/ok/caf\u00e9"),
        Entry("f", 0o644, "/usr/share/x\n%post"),
        Entry("f", 0o644, "/usr/share/bad\udcff"),  # a byte that is not UTF-8, as run() keeps it
        Entry("l", 0o777, "/usr/bin/y", "\x1b[2J"),
    ]
    assert unsafe_names(entries) == ["/usr/share/x\\x0a%post", "/usr/share/bad\\xff", "/usr/bin/y"]


def test_output_that_is_not_utf8_is_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pkgrun.run import run

    name = tmp_path / b"caf\xe9".decode("utf-8", "surrogateescape")
    name.write_text("x")
    listed = run(["find", str(tmp_path), "-type", "f"]).stdout.strip()
    assert listed == str(name) and unsafe_names([Entry("f", 0o644, listed)]) != []
