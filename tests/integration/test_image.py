"""The seed's runtime image from the published RPMs: PHP through nginx and php-fpm, kept
running by supervisord."""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import subprocess
import time
import urllib.request

from conftest import ULIMITS
from helpers import RECIPES
from pkgrun.cli.main import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def wait_for_running(name: str, timeout: float = 60) -> str:
    """supervisorctl status once both programs are RUNNING (they start as STARTING)."""
    deadline = time.monotonic() + timeout
    while True:
        status = supervisor_status(name)
        if status.count("RUNNING") == 2:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def supervisor_status(name: str, *programs: str) -> str:
    # supervisorctl exits non-zero while a program is not RUNNING: its words are what count
    command = ["podman", "exec", name, "supervisorctl", "-c", "/etc/supervisord.conf", "status", *programs]
    return subprocess.run(command, capture_output=True, text=True).stdout


def exec_in(name: str, *command: str) -> str:
    return subprocess.run(
        ["podman", "exec", name, *command], capture_output=True, text=True, check=True
    ).stdout


def test_runtime_image_serves_php(seed_packages, build_env, capsys) -> None:
    code = main(
        [
            "--recipes",
            str(RECIPES),
            "image",
            "--target",
            "local",
            "--engine",
            "podman",
            "--repo",
            str(seed_packages["repo"]),
            "--tag",
            "localhost/pkgrun-lnmp:test",
            "--json",
        ],
        env=build_env,
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    image = json.loads(captured.out)
    assert image["image"] == "localhost/pkgrun-lnmp:test"
    assert sorted(image["packages"]) == [
        "nginx-1.22.1-2.local.x86_64.rpm",
        "php-8.2.32-3.local.x86_64.rpm",
        "supervisor-4.2.5-1.local.noarch.rpm",
    ]

    port, name = free_port(), f"pkgrun-test-lnmp-{secrets.token_hex(3)}"
    subprocess.run(
        ["podman", "run", "-d", "--name", name, *ULIMITS, "-p", f"127.0.0.1:{port}:80", image["image"]],
        check=True,
        capture_output=True,
    )
    try:
        word = secrets.token_hex(8)
        page = get(f"http://127.0.0.1:{port}/index.php?q={word}")
        # a value PHP computed from this request, through nginx and php-fpm
        assert f"md5({word}) = {hashlib.md5(word.encode()).hexdigest()}" in page
        assert "PHP 8.2.32 via fpm-fcgi" in page
        assert "served by nginx/1.22.1" in page

        status = wait_for_running(name)
        assert "nginx" in status and "php-fpm" in status
        old_pid = exec_in(name, "cat", "/run/php-fpm/php-fpm.pid").strip()
        exec_in(name, "sh", "-c", f"kill {old_pid}")  # php-fpm's master goes away ...
        deadline = time.monotonic() + 60
        while True:  # ... and supervisord brings it back
            pid = subprocess.run(
                ["podman", "exec", name, "cat", "/run/php-fpm/php-fpm.pid"], capture_output=True, text=True
            ).stdout.strip()
            status = supervisor_status(name, "php-fpm")
            if pid and pid != old_pid and "RUNNING" in status:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        word = secrets.token_hex(8)
        assert f"md5({word}) = {hashlib.md5(word.encode()).hexdigest()}" in get(
            f"http://127.0.0.1:{port}/?q={word}"
        )
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)
    assert subprocess.run(["podman", "container", "exists", name]).returncode != 0
