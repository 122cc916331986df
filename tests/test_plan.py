"""The build plan: a recipe resolved against version, iteration and target."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import RECIPES, seed_recipe
from pkgrun.errors import UsageError
from pkgrun.plan import make_plan
from pkgrun.recipe_dir import LoadedRecipe
from pkgrun.targets import TARGETS


def loaded(name: str) -> LoadedRecipe:
    return LoadedRecipe(seed_recipe(name), RECIPES / name)


def test_plan_for_a_newer_version_on_the_local_target() -> None:
    plan = make_plan(loaded("nginx"), TARGETS["local"], out_dir=Path("/o"), jobs=2, version="1.22.1")
    assert plan.nevra == "nginx-0:1.22.1-2.local.x86_64"
    assert plan.rpm == Path("/o/nginx-1.22.1-2.local.x86_64.rpm")
    assert plan.source.filename == "nginx-1.22.1.tar.gz"
    assert plan.requires == ["libssl3", "libpcre3", "zlib1g"]
    assert "libssl-dev" in plan.build_requires
    assert plan.fpm_argv[plan.fpm_argv.index("-p") + 1] == "/pkgrun/out/nginx-1.22.1-2.local.x86_64.rpm"
    assert plan.build_env == {
        "PKGRUN_NAME": "nginx",
        "PKGRUN_VERSION": "1.22.1",
        "PKGRUN_RELEASE": "2.local",
        "PKGRUN_ARCH": "x86_64",
        "PKGRUN_TARGET": "local",
        "PKGRUN_DIST": "local",
        "PKGRUN_FAMILY": "apt",
        "PKGRUN_JOBS": "2",
        "PKGRUN_SOURCE": "/pkgrun/source/nginx-1.22.1.tar.gz",
        "PKGRUN_SRCDIR": "/pkgrun/build/src",
        "PKGRUN_DESTDIR": "/pkgrun/destdir",
        "PKGRUN_RECIPE_DIR": "/pkgrun/recipe",
    }
    assert len(plan.steps) >= 8


def test_unknown_version_says_how_to_add_its_checksum() -> None:
    with pytest.raises(UsageError) as info:
        make_plan(loaded("nginx"), TARGETS["el7"], out_dir=Path("o"), jobs=1, version="1.25.0")
    assert "no checksum for version 1.25.0 (known: 1.12.1, 1.22.1)" in info.value.message
    assert info.value.hint is not None
    assert '"1.25.0" = "<the sha256>"' in info.value.hint
    assert str(RECIPES / "nginx" / "recipe.toml") in info.value.hint


def test_iteration_override() -> None:
    plan = make_plan(
        loaded("php"), TARGETS["el9"], out_dir=Path("o"), jobs=1, version="8.2.32", iteration="5"
    )
    assert plan.release == "5.el9"
    assert plan.to_json()["iteration"] == "5"
    assert plan.rpm.name == "php-8.2.32-5.el9.x86_64.rpm"
