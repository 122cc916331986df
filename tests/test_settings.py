"""Settings resolved once: options, then the environment, then pkgrun.toml, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from pkgrun.config.settings import max_download, resolve, split_cores, ulimits_from
from pkgrun.errors import ConfigError, UsageError
from pkgrun.targets import Packager


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = resolve({}, {"HOME": "/home/u"})
    assert settings.recipes == Path("recipes") and settings.repo == Path("repo")
    assert settings.out_dir == Path("out") and settings.config_file == Path("pkgrun.toml")
    assert settings.cache_dir == Path("/home/u/.cache/pkgrun")
    assert settings.logs == Path("/home/u/.local/state/pkgrun/logs")
    assert settings.keep is None and settings.mirrors == () and settings.max_download == 2 << 30
    assert settings.install_test and settings.lint and settings.publish and not settings.force


def test_options_win_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "PKGRUN_RECIPES": "/r",
        "PKGRUN_REPO": "/repo",
        "PKGRUN_KEEP": "3",
        "PKGRUN_MIRROR": "/m1 http://m2/",
        "PKGRUN_CACHE_DIR": "/c",
        "XDG_STATE_HOME": "/s",
        "PKGRUN_ENGINE": "docker",
        "DOCKER_HOST": "ssh://builder@b1",
        "CONTAINER_HOST": "unix:///run/p.sock",
        "PKGRUN_KEEP_CONTAINER": "1",
        "PKGRUN_ULIMITS": "nofile=64:128",
        "PKGRUN_MAX_DOWNLOAD": "512M",
        "PIP_INDEX_URL": "https://pypi.example.internal/simple/",
        "UNRELATED": "x",
    }
    settings = resolve({}, env)
    assert (settings.recipes, settings.repo, settings.keep) == (Path("/r"), Path("/repo"), 3)
    assert settings.mirrors == ("/m1", "http://m2/")
    assert settings.cache_dir == Path("/c") and settings.state_dir == Path("/s/pkgrun")
    assert settings.engine == "docker"
    assert settings.engine_urls == {"docker": "ssh://builder@b1", "podman": "unix:///run/p.sock"}
    assert settings.keep_container and settings.ulimits == ("nofile=64:128",)
    assert settings.max_download == 512 << 20
    assert settings.pip == {"PIP_INDEX_URL": "https://pypi.example.internal/simple/"}
    options = {
        "recipes": Path("/o"),
        "repo": Path("/orepo"),
        "keep": 1,
        "mirror": ["/m0"],
        "cache_dir": Path("/oc"),
        "engine": "podman",
        "packager": "nfpm",
        "no_lint": True,
        "jobs": 4,
        "builds": 2,
    }
    settings = resolve(options, env)
    assert (settings.recipes, settings.repo, settings.keep) == (Path("/o"), Path("/orepo"), 1)
    assert settings.mirrors == ("/m0", "/m1", "http://m2/")  # the option's first, then the environment's
    assert settings.cache_dir == Path("/oc") and settings.engine == "podman"
    assert settings.packager is Packager.NFPM and not settings.lint
    assert settings.split(10) == (2, 4)


def test_the_configuration_file_is_read(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('[nightly]\ntargets = ["local"]\nbuilds = 3\nmake-jobs = 5\n')
    settings = resolve({}, {"PKGRUN_CONFIG": str(config)})
    assert settings.config.nightly.targets == ["local"]
    assert (settings.builds, settings.make_jobs) == (3, 5)
    assert resolve({"builds": 1}, {"PKGRUN_CONFIG": str(config)}).builds == 1
    config.write_text("[nightly]\njobs = 2\n")  # the old name of builds
    assert resolve({}, {"PKGRUN_CONFIG": str(config)}).builds == 2
    config.write_text("[nightly]\nbuilds = 0\n")
    with pytest.raises(ConfigError):
        resolve({}, {"PKGRUN_CONFIG": str(config)})


def test_signing_and_checking_settings(tmp_path: Path) -> None:
    config = tmp_path / "pkgrun.toml"
    config.write_text('[nightly]\nverify-skipped = true\n[sign]\nkey = "ops@x"\ngnupg-home = "/g"\n')
    env = {"PKGRUN_CONFIG": str(config)}
    settings = resolve({}, env)
    assert (settings.sign_key, settings.gnupg_home, settings.verify_skipped) == ("ops@x", Path("/g"), True)
    assert not settings.unsigned
    assert resolve({"sign_key": "mine"}, {**env, "PKGRUN_SIGN_KEY": "env"}).sign_key == "mine"
    assert resolve({}, {**env, "PKGRUN_SIGN_KEY": "env", "GNUPGHOME": "/h"}).gnupg_home == Path("/h")
    assert resolve({"unsigned": True}, env).unsigned
    assert not resolve({}, {}).verify_skipped
    config.write_text('[sign]\nkeyid = "x"\n')
    with pytest.raises(ConfigError):
        resolve({}, env)


@pytest.mark.parametrize(
    ("cores", "concurrent", "expected"),
    [(1, 5, (1, 1)), (2, 1, (1, 2)), (2, 3, (1, 2)), (4, 3, (2, 2)), (16, 1, (1, 16)), (16, 30, (4, 4))],
)
def test_the_cores_are_split_between_builds_and_make(
    cores: int, concurrent: int, expected: tuple[int, int]
) -> None:
    assert split_cores(cores, concurrent, None, None) == expected
    builds, jobs = expected
    assert builds * jobs <= max(cores, builds)  # never oversubscribed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PKGRUN_KEEP": "x"}, "PKGRUN_KEEP='x': keep at least one release"),
        ({"PKGRUN_KEEP": "0"}, "PKGRUN_KEEP='0': keep at least one release"),
        ({"PKGRUN_MAX_DOWNLOAD": "12Q"}, "is not a size"),
        ({"PKGRUN_MAX_DOWNLOAD": "0"}, "is not a size"),
        ({"PKGRUN_ULIMITS": "core=1:2"}, "is not a limit"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve({}, {"PKGRUN_CONFIG": str(tmp_path / "none.toml"), **env})


def test_parsers() -> None:
    assert max_download("4G") == 4 << 30 and max_download("100") == 100 and max_download(None) == 2 << 30
    assert ulimits_from("nofile=1:2 nproc=3") == ("nofile=1:2", "nproc=3")
    assert ulimits_from("") == ()
