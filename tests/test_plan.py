"""The build plan: a recipe resolved against version, iteration, target and the run's options;
the single truth of what a build does."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import RECIPES, demo, seed_recipe
from pkgrun.build.plan import Options, Step, make_plan, volume_name
from pkgrun.errors import UsageError
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.targets import TARGETS, Packager


def loaded(name: str) -> LoadedRecipe:
    return LoadedRecipe(seed_recipe(name), RECIPES / name)


def test_plan_for_a_newer_version_on_the_local_target() -> None:
    plan = make_plan(
        loaded("nginx"), TARGETS["local"], out_dir=Path("/o"), options=Options(make_jobs=2), version="1.22.1"
    )
    assert plan.nevra == "nginx-0:1.22.1-2.local.x86_64"
    assert plan.rpm == Path("/o/nginx-1.22.1-2.local.x86_64.rpm")
    assert plan.source.filename == "nginx-1.22.1.tar.gz"
    assert plan.requires == ("libssl3", "libpcre3", "zlib1g")
    assert "libssl-dev" in plan.build_requires
    assert plan.build_env == {
        "PKGRUN_NAME": "nginx",
        "PKGRUN_VERSION": "1.22.1",
        "PKGRUN_ARCH": "x86_64",
        "PKGRUN_TARGET": "local",
        "PKGRUN_DIST": "local",
        "PKGRUN_FAMILY": "apt",
        "PKGRUN_JOBS": "2",
        "PKGRUN_SOURCE": "/pkgrun/source/nginx-1.22.1.tar.gz",
        "PKGRUN_SRCDIR": "/pkgrun/build/src",
        "PKGRUN_DESTDIR": "/pkgrun/destdir",
        "PKGRUN_RECIPE_DIR": "/pkgrun/recipe",
        # ccache's links first; its cache in the recipe's own volume
        "PATH": "/pkgrun/ccache-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "CCACHE_DIR": "/pkgrun/ccache",
        "CCACHE_MAXSIZE": "2G",
    }
    assert "PKGRUN_RELEASE" not in plan.build_env  # one compile serves every release of a version
    assert plan.ccache_volume == "pkgrun-ccache-local-nginx"
    assert plan.build_requires[-1] == "ccache"


def test_an_nfpm_target_shows_what_nfpm_is_given_not_fpm() -> None:
    plan = make_plan(loaded("nginx"), TARGETS["local"], out_dir=Path("o"), options=Options())
    assert plan.packager is Packager.NFPM
    assert plan.fpm_argv is None
    assert plan.nfpm_config is not None
    assert plan.nfpm_config["release"] == "2.local"
    assert plan.nfpm_config["depends"] == [*plan.requires, "/bin/sh"]  # what rpmbuild adds for the hooks
    data = plan.to_json()
    assert data["packager"] == "nfpm" and data["fpm_argv"] is None and data["nfpm_config"]["name"] == "nginx"
    assert "package with nfpm" in next(s.text for s in plan.steps if s.name == Step.PACKAGE)


def test_an_fpm_target_shows_fpm_argv() -> None:
    plan = make_plan(loaded("nginx"), TARGETS["el7"], out_dir=Path("o"), options=Options())
    assert plan.packager is Packager.FPM and plan.nfpm_config is None
    assert plan.fpm_argv is not None and plan.fpm_argv[plan.fpm_argv.index("-p") + 1] == (
        "/pkgrun/out/nginx-1.12.1-2.el7.x86_64.rpm"
    )
    assert plan.to_json()["packager"] == "fpm"


def test_the_steps_run_to_the_publish_in_order() -> None:
    full = make_plan(loaded("php"), TARGETS["el7"], out_dir=Path("o"), options=Options())
    assert full.step_names == [
        Step.FETCH, Step.IMAGE, Step.COMPILE_CACHE, Step.CONTAINER, Step.UNPACK, Step.BUILD, Step.KEEP,
        Step.STAGE, Step.PACKAGE, Step.VERIFY, Step.SIGN, Step.LINT, Step.INSTALL_TEST, Step.SBOM,
        Step.PUBLISH,
    ]  # fmt: skip
    bare = make_plan(
        loaded("php"),
        TARGETS["el7"],
        out_dir=Path("o"),
        options=Options(lint=False, install_test=False, publish=False, sign=False, compile_cache=False),
    )
    assert not {Step.LINT, Step.INSTALL_TEST, Step.SIGN, Step.COMPILE_CACHE, Step.KEEP} & set(bare.step_names)
    assert bare.step_names[-2] == Step.SBOM  # every package is described, published or not
    assert bare.steps[-1].text == "leave o/php-7.1.8-3.el7.x86_64.rpm in the output directory (not published)"
    needs = demo('[files]\npaths = ["usr"]\n').model_copy()
    needs = needs.model_copy(update={"build": needs.build.model_copy(update={"recipes": ["libfoo"]})})
    plan = make_plan(
        LoadedRecipe(needs, Path("demo")), TARGETS["local"], out_dir=Path("o"), options=Options()
    )
    assert plan.step_names[5] == Step.DEPENDENCIES
    assert "rpm" in plan.build_requires  # the local image needs rpm to install libfoo's package


def test_the_packager_asked_for_must_be_possible() -> None:
    with pytest.raises(UsageError, match="the local build image carries no fpm"):
        make_plan(
            loaded("nginx"), TARGETS["local"], out_dir=Path("o"), options=Options(), packager=Packager.FPM
        )
    plan = make_plan(
        loaded("nginx"), TARGETS["el8"], out_dir=Path("o"), options=Options(), packager=Packager.NFPM
    )
    assert plan.packager is Packager.NFPM and plan.fpm_argv is None
    with_args = demo('[files]\npaths = ["usr"]\n[fpm]\nargs = ["--rpm-os", "linux"]\n')
    with pytest.raises(UsageError, match=r"passes fpm flags .* that nfpm cannot honour"):
        make_plan(
            LoadedRecipe(with_args, Path("demo")), TARGETS["local"], out_dir=Path("o"), options=Options()
        )


def test_unknown_version_says_how_to_add_its_checksum() -> None:
    with pytest.raises(UsageError) as info:
        make_plan(loaded("nginx"), TARGETS["el7"], out_dir=Path("o"), options=Options(), version="1.25.0")
    assert "no checksum for version 1.25.0 (known: 1.12.1, 1.22.1)" in info.value.message
    assert info.value.hint is not None
    assert '"1.25.0" = "<the sha256>"' in info.value.hint
    assert str(RECIPES / "nginx" / "recipe.toml") in info.value.hint


def test_iteration_override() -> None:
    plan = make_plan(
        loaded("php"), TARGETS["el9"], out_dir=Path("o"), options=Options(), version="8.2.32", iteration="5"
    )
    assert plan.release == "5.el9"
    assert plan.to_json()["iteration"] == "5"
    assert plan.rpm.name == "php-8.2.32-5.el9.x86_64.rpm"
    with pytest.raises(UsageError, match="longer than 255 bytes"):
        make_plan(loaded("php"), TARGETS["el9"], out_dir=Path("o"), options=Options(), iteration="1" * 250)


def test_builders_are_pure_by_import() -> None:
    """plan, fpm and nfpm import nothing that starts a process."""
    code = (
        "import sys, pkgrun.build.plan, pkgrun.build.fpm, pkgrun.build.nfpm;"
        "print(sorted(m for m in sys.modules if m in ('pkgrun.run', 'plumbum', 'pkgrun.container')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


VOLUME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@pytest.mark.parametrize(
    ("target", "recipe", "volume"),
    [
        ("local", "nginx", "pkgrun-ccache-local-nginx"),  # a plain name stays as it was
        ("el7", "php-fpm", "pkgrun-ccache-el7-php-fpm"),
        ("el9", "py3.11", "pkgrun-ccache-el9-py3.11"),
        ("el7", "libstdc++", "pkgrun-ccache-el7-libstdc_2b_2b"),
        ("el7", "libstdc__-2b", "pkgrun-ccache-el7-libstdc_5f_5f-2b"),
        ("el7", "lib_2b", "pkgrun-ccache-el7-lib_5f2b"),
        ("el-7", "x", "pkgrun-ccache-el_2d7-x"),  # a target's '-' could not end it
    ],
)
def test_ccache_volume_names(target: str, recipe: str, volume: str) -> None:
    assert volume_name("pkgrun-ccache", target, recipe) == volume


def test_two_recipes_never_share_a_ccache_volume() -> None:
    # the name the old scheme gave libstdc++, which a recipe could be called and then shared
    old = "libstdc__-" + hashlib.sha256(b"pkgrun-ccache-el7-libstdc++").hexdigest()[:8]
    assert volume_name("pkgrun-ccache", "el7", "libstdc++") != volume_name("pkgrun-ccache", "el7", old)


RECIPE_NAMES = st.from_regex(r"[A-Za-z0-9_+][A-Za-z0-9._+-]{0,12}", fullmatch=True)
TARGET_NAMES = st.sampled_from([*TARGETS, "el-7", "el_7", "local-2"])


@given(st.lists(st.tuples(TARGET_NAMES, RECIPE_NAMES), max_size=40))
def test_ccache_volume_names_are_injective_and_valid(pairs: list[tuple[str, str]]) -> None:
    names = {volume_name("pkgrun-ccache", target, recipe): (target, recipe) for target, recipe in pairs}
    assert len(names) == len(set(pairs))
    assert all(VOLUME.fullmatch(name) for name in names)
