"""Real builds of the seed's recipes on the `local` target, from real sources, in containers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import pkgrun_containers, run_installed
from helpers import RECIPES
from pkgrun.cli.main import main


def rpm_query(rpm: Path, fmt: str) -> str:
    return subprocess.run(
        ["rpm", "-qp", "--qf", fmt, str(rpm)], capture_output=True, text=True, check=True
    ).stdout


def test_the_three_builds_were_verified_linted_tested_and_published(seed_packages) -> None:
    report, stderr = seed_packages["report"], seed_packages["stderr"]
    assert report["failed"] == []
    assert sorted(p["nevra"] for p in report["published"]) == [
        "nginx-0:1.22.1-2.local.x86_64",
        "php-0:8.2.32-3.local.x86_64",
        "supervisor-0:4.2.5-1.local.noarch",
    ]
    for built in report["built"]:
        assert built["packager"] == "nfpm"
        assert built["rpmlint"] is not None
        assert built["install_test"]["steps"][-2:] == ["remove", "nothing left behind"]
    assert "packager: nfpm" in stderr  # the choice is always said
    assert seed_packages["left_behind"] == []


def test_nginx_from_debian_orig_tarball(seed_packages) -> None:
    rpm = Path(seed_packages["built"]["nginx"]["rpm"])
    assert rpm.name == "nginx-1.22.1-2.local.x86_64.rpm"
    fields = "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{PAYLOADCOMPRESSOR}"
    assert rpm_query(rpm, fields) == "nginx|0|1.22.1|2.local|x86_64|BSD-2-Clause|gzip"
    requires = rpm_query(rpm, "[%{REQUIRENEVRS}\n]").splitlines()
    assert {"libssl3", "libpcre3", "zlib1g"} <= set(requires)  # the recipe's
    # and what rpm's generators found in the binary: sonames, glibc's versioned symbols
    assert {"libssl.so.3()(64bit)", "libcrypto.so.3()(64bit)", "libc.so.6()(64bit)", "rtld(GNU_HASH)"} <= set(
        requires
    )
    assert any(r.startswith("libc.so.6(GLIBC_2.") and r.endswith(")(64bit)") for r in requires)
    config = rpm_query(rpm, "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
    assert "cn /usr/local/nginx/conf/nginx.conf" in config
    assert "cn /usr/local/nginx/conf/conf.d/default.conf" in config
    scripts = rpm_query(rpm, "%{PREIN}\n%{POSTIN}\n%{PREUN}\n%{POSTUN}")
    assert "useradd" in scripts and "(none)" not in scripts
    output = run_installed(
        "podman",
        [rpm],
        ["libssl3", "libpcre3", "zlib1g"],
        "nginx -v; /usr/local/nginx/sbin/nginx -t; id nginx",
    )
    assert "nginx version: nginx/1.22.1" in output
    assert "syntax is ok" in output
    assert "uid=" in output


def test_supervisor_from_pypi(seed_packages) -> None:
    rpm = Path(seed_packages["built"]["supervisor"]["rpm"])
    assert rpm_query(rpm, "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}") == "supervisor-4.2.5-1.local.noarch"
    files = rpm_query(rpm, "[%{FILENAMES}\n]").splitlines()
    assert "/usr/bin/supervisord" in files
    assert "/etc/supervisord.d/php-fpm.ini" in files
    output = run_installed("podman", [rpm], ["python3", "python3-pkg-resources"], "supervisord --version")
    assert output.splitlines()[0] == "4.2.5"


def test_php_with_fpm_and_extensions(seed_packages) -> None:
    rpm = Path(seed_packages["built"]["php"]["rpm"])
    assert rpm.name == "php-8.2.32-3.local.x86_64.rpm"
    # the apt names (not the generated sonames and interpreters, which the image's packages have)
    requires = [line for line in rpm_query(rpm, "[%{REQUIRENEVRS}\n]").splitlines() if "(" not in line]
    output = run_installed(
        "podman",
        [rpm],
        [r for r in requires if not r.startswith("/")],
        "php --version; php -m; php-fpm -t 2>&1; php -r 'echo intdiv(6 * 7, 1), PHP_EOL;'",
    )
    assert "PHP 8.2.32 (cli)" in output
    modules = set(output.split())
    for module in (
        "curl",
        "gd",
        "mbstring",
        "openssl",
        "xsl",
        "zlib",
        "bz2",
        "readline",
        "mysqli",
        "pdo_mysql",
    ):
        assert module in modules, module
    assert "Zend OPcache" in output
    assert "test is successful" in output
    assert "42" in output.split()


def test_nginx_with_docker(docker, mirror, build_env, tmp_path, capsys) -> None:
    code = main(
        [
            "--recipes",
            str(RECIPES),
            "build",
            "nginx",
            "--version",
            "1.22.1",
            "--target",
            "local",
            "--engine",
            docker,
            "--mirror",
            str(mirror),
            "--out",
            str(tmp_path),
            "--no-publish",
            "--json",
        ],
        env=build_env,
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rpm = Path(json.loads(captured.out)["built"][0]["rpm"])
    assert rpm_query(rpm, "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}") == "nginx-1.22.1-2.local.x86_64"
    output = run_installed(docker, [rpm], ["libssl3", "libpcre3", "zlib1g"], "nginx -v")
    assert "nginx version: nginx/1.22.1" in output
    assert pkgrun_containers(docker, owner=os.getpid()) == []
