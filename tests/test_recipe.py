"""The recipe models, parsed purely from TOML text."""

from __future__ import annotations

import pydantic
import pytest

from helpers import DEMO_SHA, demo, seed_recipe
from pkgrun.errors import RecipeError
from pkgrun.targets import TARGETS


@pytest.mark.parametrize(
    ("name", "version", "iteration", "requires_el7"),
    [
        (
            "php",
            "7.1.8",
            "3",
            [
                "libjpeg",
                "libpng",
                "freetype",
                "libxml2",
                "zlib",
                "glibc",
                "glib2",
                "bzip2",
                "curl",
                "e2fsprogs",
                "openssl",
                "make",
                "cmake",
                "libmcrypt",
                "readline",
                "libxslt",
            ],
        ),
        ("nginx", "1.12.1", "2", ["openssl"]),
        ("supervisor", "3.1.4", "1", ["openssl", "python", "python-meld3", "python-setuptools"]),
    ],
)
def test_seed_recipes(name: str, version: str, iteration: str, requires_el7: list[str]) -> None:
    recipe = seed_recipe(name)
    assert (recipe.name, recipe.package.version, recipe.package.iteration) == (name, version, iteration)
    assert recipe.package.epoch == 0
    assert recipe.requires_for(TARGETS["el7"]) == requires_el7
    assert recipe.hooks.items() == [
        ("before-install", "before_install.sh"),
        ("after-install", "after_install.sh"),
        ("before-remove", "before_remove.sh"),
        ("after-remove", "after_remove.sh"),
    ]


def test_seed_recipes_know_the_versions_the_offline_tests_build() -> None:
    assert seed_recipe("nginx").source.sha256["1.22.1"] == (
        "9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31"
    )
    assert seed_recipe("supervisor").source.sha256["4.2.5"] == (
        "34761bae1a23c58192281a5115fb07fbf22c9b0133c08166beffc70fed3ebc12"
    )
    assert "8.2.32" in seed_recipe("php").source.sha256


def test_source_file_names() -> None:
    assert seed_recipe("php").source.filename("php", "8.2.32") == "php-8.2.32.tar.xz"
    assert seed_recipe("nginx").source.url_for("nginx", "1.22.1") == (
        "https://nginx.org/download/nginx-1.22.1.tar.gz"
    )
    supervisor = seed_recipe("supervisor").source
    assert supervisor.filename("supervisor", "4.2.5") == "supervisor-4.2.5.tar.gz"
    assert supervisor.url_for("supervisor", "4.2.5") is None


def test_a_target_entry_wins_over_its_family() -> None:
    recipe = demo(
        '[requires]\nyum = ["a"]\nel8 = ["b"]\n',
        '[build.requires]\napt = ["gcc"]\n'.replace("[build.requires]", "[build.requires]"),
    )
    assert recipe.requires_for(TARGETS["el7"]) == ["a"]
    assert recipe.requires_for(TARGETS["el8"]) == ["b"]
    assert recipe.requires_for(TARGETS["local"]) == []
    assert recipe.build_requires_for(TARGETS["local"]) == ["gcc"]


def test_defaults_and_conversions() -> None:
    recipe = demo().model_copy()
    assert recipe.package.epoch == 0
    assert recipe.package.iteration == "1"
    assert recipe.package.arch == "x86_64"
    assert demo().source.sha256 == DEMO_SHA
    text_iteration = demo().package.model_validate(
        {**demo().package.model_dump(by_alias=True), "iteration": 7}
    )
    assert text_iteration.iteration == "7"  # `iteration = 7` in TOML is the string "7"


def test_checksums_are_normalized_to_lower_case() -> None:
    upper = "A" * 64
    recipe = demo().source.model_validate({"url": "https://e.org/x-{version}.tgz", "sha256": {"1.0": upper}})
    assert recipe.sha256["1.0"] == "a" * 64


def test_recipes_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        demo().package.version = "2.0"  # type: ignore[misc]


def test_files_the_recipe_points_at() -> None:
    assert seed_recipe("nginx").recipe_paths() == [
        ("build.script", "build.sh"),
        ("hooks.before-install", "before_install.sh"),
        ("hooks.after-install", "after_install.sh"),
        ("hooks.before-remove", "before_remove.sh"),
        ("hooks.after-remove", "after_remove.sh"),
        ('files.add."/usr/local/nginx/conf/nginx.conf"', "conf/nginx.conf"),
        ('files.add."/usr/local/nginx/conf/conf.d/default.conf"', "conf/conf.d/default.conf"),
        ('files.add."/etc/logrotate.d/nginx"', "conf/logrotate"),
        ('files.add."/usr/lib/systemd/system/nginx.service"', "conf/nginx.service"),
    ]


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ('[requires]\nyum = ["openssl >="]\n', "requires.yum[0]", "is not a requirement"),
        ('[files]\npaths = ["/usr"]\n', "files.paths[0]", "must be relative to the staging directory"),
        ("[files]\npaths = []\n", "files.paths", "must not be empty"),
        (
            '[files]\npaths = ["usr"]\ndirectories = ["/usr//share"]\n',
            "files.directories[0]",
            "must be normalized",
        ),
        (
            '[fpm]\nargs = ["linux"]\n',
            "fpm.args[0]",
            "'linux' is not an option: a positional argument would add files",
        ),
        ('[fpm]\nargs = ["--workdir=/tmp"]\n', "fpm.args[0]", "--workdir is set by pkgrun"),
    ],
)
def test_more_mistakes(section: str, field: str, message: str) -> None:
    with pytest.raises(RecipeError) as info:
        demo(section)
    (problem,) = info.value.problems
    assert problem.field == field
    assert message in problem.message


def test_default_version_by_target() -> None:
    recipe = seed_recipe("nginx")
    assert recipe.default_version(TARGETS["el7"]) == "1.12.1"
    assert recipe.default_version(TARGETS["local"]) == "1.22.1"


def test_a_default_version_for_a_target_needs_a_checksum() -> None:
    import tomllib
    from pathlib import Path

    from helpers import demo_toml
    from pkgrun.recipe.model import parse_recipe

    text = demo_toml().replace(
        'maintainer = "me"\n', 'maintainer = "me"\n[package.version-for]\nlocal = "3.0"\n'
    )
    with pytest.raises(RecipeError) as info:
        parse_recipe(tomllib.loads(text), Path("demo/recipe.toml"))
    assert [(p.field, p.message) for p in info.value.problems] == [
        ('source.sha256."3.0"', "the default version 3.0 has no checksum")
    ]
    ok = parse_recipe(tomllib.loads(text.replace('local = "3.0"', 'yum = "2.0"')), Path("demo/recipe.toml"))
    assert ok.default_version(TARGETS["el9"]) == "2.0"
    assert ok.default_version(TARGETS["local"]) == "1.0"
