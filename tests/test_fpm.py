"""fpm's command line, generated from the seed's three recipes, against the seed's commands.

The seed (shared/seed, a 2018 blog post) typed these by hand. Given the seed's own paths, the
generated argv holds the seed's tokens in the seed's order, with one -d per dependency where the
seed quoted them as one string, followed by the flags the seed left to fpm's defaults.
"""

from __future__ import annotations

import shlex

import pytest

from helpers import demo, seed_recipe
from pkgrun.build.fpm import FpmPaths, fpm_argv, release, rpm_filename
from pkgrun.targets import TARGETS

# Verbatim from the seed (double space in php's list included).
SEED = {
    "php": "fpm -f -s dir -t rpm -n php --epoch 0 -v 7.1.8 --iteration 3.el7 -C /data/scripts/php "
    "-d 'libjpeg libpng freetype libxml2 zlib glibc glib2 bzip2 curl e2fsprogs openssl make  cmake "
    "libmcrypt readline libxslt' --before-install /data/scripts/php/before_install.sh "
    "--after-install /data/scripts/php/after_install.sh --after-remove "
    "/data/scripts/php/after_remove.sh --workdir /data/scripts/php etc usr",
    "nginx": "fpm -f -s dir -t rpm -n nginx --epoch 0 -v 1.12.1 --iteration 2.el7 -C /data/scripts/nginx "
    "-d 'openssl' --before-install /data/scripts/nginx/before_install.sh --after-install "
    "/data/scripts/nginx/after_install.sh --after-remove /data/scripts/nginx/after_remove.sh "
    "--workdir /data/scripts/nginx etc usr",
    "supervisor": "fpm -f -s dir -t rpm -n supervisor --epoch 0 -v 3.1.4 --iteration 1.el7 -C "
    "/data/scripts/supervisor -d 'openssl' --before-install "
    "/data/scripts/supervisor/before_install.sh --after-install "
    "/data/scripts/supervisor/after_install.sh --after-remove "
    "/data/scripts/supervisor/after_remove.sh --workdir /data/scripts/supervisor etc",
}

# Where pkgrun departs from the seed because the seed's package would not work; the recipe
# says why in a comment. Everything else is the seed's.
SEED_FIXES: dict[str, dict[str, list[str]]] = {
    # every recipe: a before-remove hook stops and disables the service while its unit file
    # and binaries still exist (the seed's after-remove ran when they were gone)
    "php": {"before_remove": ["/data/scripts/php/before_remove.sh"]},
    "nginx": {"before_remove": ["/data/scripts/nginx/before_remove.sh"]},
    # supervisord is Python: its code in /usr and its interpreter and libraries are required
    "supervisor": {
        "before_remove": ["/data/scripts/supervisor/before_remove.sh"],
        "extra_depends": ["python", "python-meld3", "python-setuptools"],
        "extra_paths": ["usr"],
    },
}

# `--` before the packaged paths, which the seed did not need: no path can read as an option.
END_OF_OPTIONS = ["--"]

# The flags the seed left to fpm's defaults, which pkgrun passes explicitly, by recipe.
ADDED = {
    "php": [
        "-a",
        "x86_64",
        "-p",
        "/data/out/php-7.1.8-3.el7.x86_64.rpm",
        "--rpm-compression",
        "gzip",
        "--rpm-digest",
        "sha256",
        "--rpm-summary",
        "PHP interpreter and FastCGI process manager (php-fpm), built from source",
        "--description",
        seed_recipe("php").package.description.strip(),
        "--license",
        "PHP-3.01",
        "--url",
        "https://www.php.net/",
        "-m",
        "pkgrun packagers <packagers@pkgrun.invalid>",
        "--vendor",
        "pkgrun",
        "--config-files",
        "/usr/local/php/etc/php.ini",
        "--config-files",
        "/usr/local/php/etc/php-fpm.conf",
        "--config-files",
        "/usr/local/php/etc/php-fpm.d/www.conf",
        "--directories",
        "/usr/local/php",
    ],
    "nginx": [
        "-a",
        "x86_64",
        "-p",
        "/data/out/nginx-1.12.1-2.el7.x86_64.rpm",
        "--rpm-compression",
        "gzip",
        "--rpm-digest",
        "sha256",
        "--rpm-summary",
        "High performance web server and reverse proxy, built from source",
        "--description",
        seed_recipe("nginx").package.description.strip(),
        "--license",
        "BSD-2-Clause",
        "--url",
        "https://nginx.org/",
        "-m",
        "pkgrun packagers <packagers@pkgrun.invalid>",
        "--vendor",
        "pkgrun",
        "--config-files",
        "/usr/local/nginx/conf/nginx.conf",
        "--config-files",
        "/usr/local/nginx/conf/conf.d/default.conf",
        "--config-files",
        "/etc/logrotate.d/nginx",
        "--directories",
        "/usr/local/nginx",
    ],
    "supervisor": [
        "-a",
        "noarch",
        "-p",
        "/data/out/supervisor-3.1.4-1.el7.noarch.rpm",
        "--rpm-compression",
        "gzip",
        "--rpm-digest",
        "sha256",
        "--rpm-summary",
        "A system for controlling processes (supervisord and supervisorctl)",
        "--description",
        seed_recipe("supervisor").package.description.strip(),
        "--license",
        "BSD and MIT",
        "--url",
        "http://supervisord.org/",
        "-m",
        "pkgrun packagers <packagers@pkgrun.invalid>",
        "--vendor",
        "pkgrun",
        "--config-files",
        "/etc/supervisord.conf",
        "--config-files",
        "/etc/supervisord.d/nginx.ini",
        "--config-files",
        "/etc/supervisord.d/php-fpm.ini",
        "--directories",
        "/etc/supervisord.d",
        # patterns until the build has run; the build passes the directories they match
        "--directories",
        "/usr/lib/python*/*-packages/supervisor",
        "--directories",
        "/usr/lib/python*/*-packages/supervisor-*-info",
    ],
}


# Every build is reproducible: rpmbuild's macros for a fixed build host and time (fpm.py).
for added in ADDED.values():
    for define in (
        "_buildhost pkgrun",
        "use_source_date_epoch_as_buildtime 1",
        "clamp_mtime_to_source_date_epoch 1",
        "_build_id_links none",
    ):
        added += ["--rpm-rpmbuild-define", define]


# What a recipe passes through its [fpm] args, after pkgrun's flags.
PASSED_THROUGH: dict[str, list[str]] = {"php": [], "nginx": [], "supervisor": []}


def seed_argv(name: str) -> list[str]:
    """The seed's command as argv, its quoted dependency list split into one -d each, as
    rpmbuild splits a Requires line; with pkgrun's fixes to it where there are any."""
    tokens = shlex.split(SEED[name])
    argv: list[str] = []
    pairs = iter(tokens)
    for token in pairs:
        if token == "-d":
            for dependency in next(pairs).split():
                argv += ["-d", dependency]
        else:
            argv.append(token)
    fixes = SEED_FIXES.get(name, {})
    for hook in fixes.get("before_remove", []):
        at = argv.index("--after-remove")
        argv[at:at] = ["--before-remove", hook]
    last_d = max(i for i, t in enumerate(argv) if t == "-d")
    for dependency in reversed(fixes.get("extra_depends", [])):
        argv[last_d + 2 : last_d + 2] = ["-d", dependency]
    return argv + fixes.get("extra_paths", [])


def seed_paths(name: str) -> FpmPaths:
    # The seed kept staging, hooks and workdir in one directory.
    return FpmPaths(
        staging=f"/data/scripts/{name}",
        workdir=f"/data/scripts/{name}",
        hooks=f"/data/scripts/{name}",
        package="/data/out/"
        + rpm_filename(seed_recipe(name), seed_recipe(name).package.version, TARGETS["el7"]),
    )


def without_added_flags(argv: list[str], added: list[str]) -> list[str]:
    """argv with the added flag/value pairs taken out, wherever they stand."""
    out = list(argv)
    pairs = list(zip(added[::2], added[1::2], strict=True))
    for flag, value in pairs:
        for i in range(len(out) - 1):
            if out[i] == flag and out[i + 1] == value:
                del out[i : i + 2]
                break
        else:
            raise AssertionError(f"{flag} {value!r} not in argv")
    return out


@pytest.mark.parametrize("name", ["php", "nginx", "supervisor"])
def test_seed_command_is_reproduced(name: str) -> None:
    recipe = seed_recipe(name)
    argv = fpm_argv(recipe, recipe.package.version, TARGETS["el7"], seed_paths(name))
    passed = PASSED_THROUGH[name] + END_OF_OPTIONS
    paths = recipe.files.paths
    assert argv[len(argv) - len(paths) - len(passed) : len(argv) - len(paths)] == passed
    del argv[len(argv) - len(paths) - len(passed) : len(argv) - len(paths)]
    assert without_added_flags(argv, ADDED[name]) == seed_argv(name)


@pytest.mark.parametrize("name", ["php", "nginx", "supervisor"])
def test_golden_argv(name: str) -> None:
    recipe = seed_recipe(name)
    argv = fpm_argv(recipe, recipe.package.version, TARGETS["el7"], seed_paths(name))
    seed = seed_argv(name)
    paths = recipe.files.paths
    # the seed's flags, then pkgrun's explicit ones, then the packaged paths
    assert (
        argv == seed[: len(seed) - len(paths)] + ADDED[name] + PASSED_THROUGH[name] + END_OF_OPTIONS + paths
    )


def test_nginx_golden_argv_in_full() -> None:
    """One golden list written out whole, as a reader would check it by eye."""
    recipe = seed_recipe("nginx")
    paths = FpmPaths(staging="/S", workdir="/W", hooks="/R", package="/O/nginx.rpm")
    assert fpm_argv(recipe, "1.12.1", TARGETS["el7"], paths) == [
        "fpm", "-f", "-s", "dir", "-t", "rpm",
        "-n", "nginx", "--epoch", "0", "-v", "1.12.1", "--iteration", "2.el7",
        "-C", "/S",
        "-d", "openssl",
        "--before-install", "/R/before_install.sh",
        "--after-install", "/R/after_install.sh",
        "--before-remove", "/R/before_remove.sh",
        "--after-remove", "/R/after_remove.sh",
        "--workdir", "/W",
        "-a", "x86_64", "-p", "/O/nginx.rpm",
        "--rpm-compression", "gzip", "--rpm-digest", "sha256",
        "--rpm-summary", "High performance web server and reverse proxy, built from source",
        "--description", recipe.package.description.strip(),
        "--license", "BSD-2-Clause", "--url", "https://nginx.org/",
        "-m", "pkgrun packagers <packagers@pkgrun.invalid>", "--vendor", "pkgrun",
        "--config-files", "/usr/local/nginx/conf/nginx.conf",
        "--config-files", "/usr/local/nginx/conf/conf.d/default.conf",
        "--config-files", "/etc/logrotate.d/nginx",
        "--directories", "/usr/local/nginx",
        "--rpm-rpmbuild-define", "_buildhost pkgrun",
        "--rpm-rpmbuild-define", "use_source_date_epoch_as_buildtime 1",
        "--rpm-rpmbuild-define", "clamp_mtime_to_source_date_epoch 1",
        "--rpm-rpmbuild-define", "_build_id_links none",
        "--", "etc", "usr",
    ]  # fmt: skip


# --- each flag from its part of the recipe ------------------------------------------------------

PATHS = FpmPaths(staging="/S", workdir="/W", hooks="/R", package="/O/x.rpm")


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, token in enumerate(argv[:-1]) if token == flag]


@pytest.mark.parametrize(
    ("target", "iteration"), [("el7", "3.el7"), ("el8", "3.el8"), ("el9", "3.el9"), ("local", "3.local")]
)
def test_dist_tag_of_the_target_makes_the_release(target: str, iteration: str) -> None:
    recipe = seed_recipe("php")
    argv = fpm_argv(recipe, "7.1.8", TARGETS[target], PATHS)
    assert flag_values(argv, "--iteration") == [iteration]
    assert release(recipe, TARGETS[target]) == iteration


def test_iteration_override_keeps_the_dist_tag() -> None:
    argv = fpm_argv(seed_recipe("php"), "8.2.32", TARGETS["el9"], PATHS, iteration="7")
    assert flag_values(argv, "--iteration") == ["7.el9"]
    assert flag_values(argv, "-v") == ["8.2.32"]


def test_payload_is_gzip_on_every_target() -> None:
    # CentOS 7's rpm cannot unpack a zstd payload, and rpmbuild on newer hosts defaults to it
    for target in TARGETS.values():
        argv = fpm_argv(seed_recipe("nginx"), "1.12.1", target, PATHS)
        assert flag_values(argv, "--rpm-compression") == ["gzip"]


def test_config_files_and_directories_are_flags() -> None:
    recipe = demo(
        '[files]\npaths = ["etc", "usr"]\nconfig = ["/etc/demo.conf", "/etc/demo.d"]\n'
        'directories = ["/usr/share/demo"]\n'
    )
    argv = fpm_argv(recipe, "1.0", TARGETS["el7"], PATHS)
    assert flag_values(argv, "--config-files") == ["/etc/demo.conf", "/etc/demo.d"]
    assert flag_values(argv, "--directories") == ["/usr/share/demo"]
    assert argv[-2:] == ["etc", "usr"]


def test_requirements_follow_the_target() -> None:
    recipe = demo('[requires]\nyum = ["openssl"]\napt = ["libssl3"]\nel7 = ["openssl", "python"]\n')
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["el7"], PATHS), "-d") == ["openssl", "python"]
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["el9"], PATHS), "-d") == ["openssl"]
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["local"], PATHS), "-d") == ["libssl3"]


def test_version_constraints_stay_one_argument() -> None:
    recipe = demo('[requires]\nyum = ["openssl >= 1.0.2"]\n')
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["el8"], PATHS), "-d") == ["openssl >= 1.0.2"]


def test_all_six_hooks_in_order() -> None:
    recipe = demo(
        "[hooks]\n"
        + "\n".join(
            f'{h} = "hooks/{h}.sh"'
            for h in (
                "after-upgrade",
                "before-remove",
                "after-install",
                "before-install",
                "after-remove",
                "before-upgrade",
            )
        )
    )
    argv = fpm_argv(recipe, "1.0", TARGETS["el7"], PATHS)
    hooks = [(t, argv[i + 1]) for i, t in enumerate(argv) if t.startswith(("--before-", "--after-"))]
    assert hooks == [
        ("--before-install", "/R/hooks/before-install.sh"),
        ("--after-install", "/R/hooks/after-install.sh"),
        ("--before-remove", "/R/hooks/before-remove.sh"),
        ("--after-remove", "/R/hooks/after-remove.sh"),
        ("--before-upgrade", "/R/hooks/before-upgrade.sh"),
        ("--after-upgrade", "/R/hooks/after-upgrade.sh"),
    ]


def test_unmodelled_fpm_flags_pass_through_before_the_paths() -> None:
    recipe = demo('[fpm]\nargs = ["--rpm-os", "linux", "--provides", "webserver"]\n')
    argv = fpm_argv(recipe, "1.0", TARGETS["el7"], PATHS)
    assert argv[-6:] == ["--rpm-os", "linux", "--provides", "webserver", "--", "usr"]


def test_recipe_strings_are_single_arguments() -> None:
    # shell syntax in a recipe value stays one argv element: nothing is joined into a shell line
    summary = 'it\'s $(touch /tmp/x) `id` "quoted"'
    recipe = demo().model_copy(deep=True)
    recipe = recipe.model_copy(update={"package": recipe.package.model_copy(update={"summary": summary})})
    argv = fpm_argv(recipe, "1.0", TARGETS["el7"], PATHS)
    assert flag_values(argv, "--rpm-summary") == [summary]


def test_rpm_filename() -> None:
    assert rpm_filename(seed_recipe("php"), "7.1.8", TARGETS["el7"]) == "php-7.1.8-3.el7.x86_64.rpm"
    assert rpm_filename(seed_recipe("supervisor"), "4.2.5", TARGETS["local"]) == (
        "supervisor-4.2.5-1.local.noarch.rpm"
    )


def test_what_the_hooks_run_is_required_before_they_run() -> None:
    recipe = demo(
        '[files]\npaths = ["usr"]\n[hooks]\nbefore-install = "pre.sh"\nafter-remove = "postun.sh"\n'
        '[hooks.requires]\nyum = ["shadow-utils", "/usr/sbin/useradd"]\napt = ["passwd"]\n'
    )
    argv = fpm_argv(recipe, "1.0", TARGETS["el7"], PATHS)
    assert flag_values(argv, "--rpm-tag") == [
        "Requires(pre,postun): shadow-utils",
        "Requires(pre,postun): /usr/sbin/useradd",
    ]
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["local"], PATHS), "--rpm-tag") == [
        "Requires(pre,postun): passwd"
    ]


def test_a_recipe_package_is_required_by_the_same_name_everywhere() -> None:
    recipe = demo('[requires]\nyum = ["openssl"]\napt = ["libssl3"]\nrecipes = ["libfoo >= 2.1"]\n')
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["el9"], PATHS), "-d") == ["openssl", "libfoo >= 2.1"]
    assert flag_values(fpm_argv(recipe, "1.0", TARGETS["local"], PATHS), "-d") == ["libssl3", "libfoo >= 2.1"]
    assert recipe.recipe_requires == ["libfoo"]
