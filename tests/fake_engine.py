"""A container engine for the unit tests, in place of podman at the one seam every engine
command goes through (pkgrun.container's run, run_logged and run_to_file).

It keeps each container as a directory on this host and carries out what pkgrun asks of it with
the host's own tools: archives copied in and out with tar, the build script run with bash in the
container's tree, the staging directory listed with find, the RPM made by the real nfpm (fpm's
argv, on el targets, is turned into the nfpm configuration fpm would amount to). Everything
outside the engine is real: sources, rpm, rpmlint, createrepo_c, the repository. So a build
runs every step of its plan, for every target, in seconds and without an engine.

Every command is recorded (``calls``), and ``fail`` lets a test make one command fail or raise.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import pkgrun.engine.container
from pkgrun.build.container_commands import _STAGE_SCRIPT, EXISTING
from pkgrun.build.nfpm import fpm_style_scripts
from pkgrun.errors import CommandFailed
from pkgrun.install.lookup import DIRECTORIES
from pkgrun.rpm.evr import EVR
from pkgrun.rpm.query import read_rpm
from pkgrun.run import Result, find_tool
from pkgrun.targets import TARGETS

Failure = Callable[[list[str]], "int | BaseException | None"]


class FakeEngine:
    def __init__(self, root: Path, images: Sequence[str] = ("localhost/pkgrun-local:bookworm",)) -> None:
        self.root = root
        self.images = set(images)
        self.containers: dict[str, Path] = {}
        self.removed: list[str] = []
        self.calls: list[list[str]] = []
        self.fail: Failure | None = None
        self.gone = False  # its service stopped: every command fails as podman's client says it
        self.runtime = "runc"  # the OCI runtime podman says it runs (info's .Host.OCIRuntime)
        self.runtimes = {"runc", "crun"}  # those it finds
        self.unknown: set[str] = set()  # package names the target's repositories lack
        # directories a runtime image with requirements installed has beyond this host's top ones
        self.requirement_dirs: set[str] = set()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
        monkeypatch.setattr(pkgrun.engine.container, "run", self.run)
        monkeypatch.setattr(pkgrun.engine.container, "run_logged", self.run_logged)
        monkeypatch.setattr(pkgrun.engine.container, "run_to_file", self.run_to_file)
        monkeypatch.setattr(pkgrun.engine.container, "find_tool", lambda name, hint=None: f"/usr/bin/{name}")
        return self

    def started(self) -> list[str]:
        return [argv[argv.index("--name") + 1] for argv in self.calls if "run" in argv and "--name" in argv]

    # --- the seam ---------------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: object = None,
        check: bool = True,
        hint: str | None = None,
        stdin: Path | None = None,
        timeout: float | None = None,
    ) -> Result:
        argv = [str(a) for a in argv]
        code, out = self._dispatch(argv, stdin=stdin)
        if check and code:
            raise CommandFailed(argv, code, out, hint=hint)
        return Result(argv, code, out, "")

    def run_logged(self, argv: Sequence[str], log: Path, *, hint: str | None = None) -> None:
        argv = [str(a) for a in argv]
        code, out = self._dispatch(argv)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(f"+ {' '.join(argv)}\n{out}")
        if code:
            raise CommandFailed(argv, code, out, hint=hint)

    def run_to_file(self, argv: Sequence[str], out: Path, *, hint: str | None = None) -> None:
        argv = [str(a) for a in argv]
        code, text = self._dispatch(argv, stdout=out)
        if code:
            raise CommandFailed(argv, code, text, hint=hint)

    # --- the engine's verbs -----------------------------------------------------------------------

    def _dispatch(
        self, argv: list[str], stdin: Path | None = None, stdout: Path | None = None
    ) -> tuple[int, str]:
        self.calls.append(argv)
        if self.gone:
            return 125, "Error: unable to connect to Podman socket: dial unix: connect: connection refused\n"
        if self.fail is not None:
            failure = self.fail(argv)
            if isinstance(failure, BaseException):
                raise failure
            if failure:
                return failure, "the fake engine was told to fail here\n"
        args = argv[1:]
        runtime = self.runtime
        if args[:1] == ["--runtime"]:
            runtime, args = args[1], args[2:]
            if runtime not in self.runtimes:  # as podman says it
                return 125, f'Error: default OCI runtime "{runtime}" not found: invalid argument\n'
        if args[:1] in (["--url"], ["--host"], ["--connection"], ["--context"]):
            args = args[2:]
        verb = args[0]
        if verb == "version":
            return 0, "4.3.1\n"
        if verb == "info" and "OCIRuntime" in args[-1]:
            return 0, (runtime if "Name" in args[-1] else f"/usr/bin/{runtime}") + "\n"
        if verb == "info":
            return 0, "2\n"
        if args[:2] == ["image", "inspect"]:
            image = args[-1]
            if image not in self.images:  # as podman says it
                return 125, f"Error: {image}: image not known\n"
            return 0, f"sha256:{abs(hash(image)):064x}\n"
        if verb in ("build", "import"):
            self.images.add(args[args.index("--tag") + 1] if verb == "build" else args[-1])
            return 0, ""
        if verb == "run":
            name = args[args.index("--name") + 1]
            self.containers[name] = Path(self.root, name)
            self.containers[name].mkdir(parents=True)
            return 0, name + "\n"
        if verb == "rm":
            name = args[-1]
            self.removed.append(name)
            shutil.rmtree(self.containers.pop(name, self.root / "none"), ignore_errors=True)
            return 0, ""
        if verb == "cp":
            return self._cp(args, stdin, stdout)
        if verb == "exec":
            return self._exec(args[1:])
        return 0, ""

    def _cp(self, args: list[str], stdin: Path | None, stdout: Path | None) -> tuple[int, str]:
        if args[1] == "-":
            name = args[2].split(":", 1)[0]
            assert stdin is not None
            with tarfile.open(stdin) as tar:
                tar.extractall(self.containers[name], filter="tar")
            return 0, ""
        name, path = args[1].split(":", 1)
        source = self.containers[name] / path.lstrip("/")
        if not source.is_file():
            return 1, f"Error: {path}: no such file\n"
        assert stdout is not None
        with tarfile.open(stdout, "w") as tar:
            tar.add(source, arcname=source.name)
        return 0, ""

    def _exec(self, args: list[str]) -> tuple[int, str]:
        env: dict[str, str] = {}
        workdir = "/"
        while args[0] in ("--env", "--workdir"):
            if args[0] == "--env":
                key, _, value = args[1].partition("=")
                env[key] = value
            else:
                workdir = args[1]
            args = args[2:]
        root, command = self.containers[args[0]], args[1:]

        def inside(path: str) -> str:
            return str(root / path.lstrip("/")) if path.startswith("/") else path

        host_env = {**os.environ, **{k: inside(v) if v.startswith("/pkgrun") else v for k, v in env.items()}}
        cwd = inside(workdir)
        Path(cwd).mkdir(parents=True, exist_ok=True)
        program = command[0]
        if program == "mkdir":
            for path in command[2:]:
                Path(inside(path)).mkdir(parents=True, exist_ok=True)
            return 0, ""
        if program == "tar":  # unpack a source or a kept compile, archive a compile
            remapped = [inside(a) if a.startswith("/pkgrun") else a for a in command if a != "--same-owner"]
            return _host(remapped, cwd, host_env)
        if program == "bash":
            return _host([*command[:-1], inside(command[-1])], cwd, host_env)
        if program == "sh" and command[2] == _STAGE_SCRIPT:
            remapped = [inside(a) if a.startswith("/pkgrun") else a for a in command[4:]]
            return _host(["sh", "-c", command[2], "sh", *remapped], cwd, host_env)
        if program == "sh" and command[2] in {t.lookup for t in TARGETS.values()}:  # names looked up
            return 0, "".join(f"{name}\n" for name in command[4:] if name in self.unknown)
        if program == "sh" and command[2] == DIRECTORIES:  # an image's directories: this host's top ones
            # as the script does: what vanishes while find walks (other tests' temporary
            # directories) is no error, and find's complaints are not directories
            script = DIRECTORIES.replace("find / -xdev", "find / -xdev -maxdepth 3")
            code, out = _host(["sh", "-c", script], cwd, host_env)
            return code, out + "".join(f"{d}\n" for d in sorted(self.requirement_dirs))
        if program == "sh" and command[2] == EXISTING:  # the image's file system: this host's
            return _host(command, cwd, host_env)
        if program == "find":
            return _host([inside(a) if a.startswith("/pkgrun") else a for a in command], cwd, host_env)
        if command[:2] in (["dpkg-query", "-W"], ["rpm", "-qa"]):
            return _host(command, cwd, host_env)  # the image's packages: this host's, read only
        if program.endswith("nfpm"):
            return self._nfpm(root, command, inside)
        if program == "fpm":
            return self._fpm(root, command, inside)
        if by_name := self._by_name(root, command):
            return by_name
        # package managers, test commands, rpm -e, the install test's checks (the file system
        # before and after, ldd): they pass here, finding nothing wrong
        return 0, ""

    def _by_name(self, root: Path, command: list[str]) -> tuple[int, str] | None:
        """An install by name: the newest package of the name in the repositories offered (not
        disabled) lands, as a client with only pkgrun's repositories would choose; rpm -q says
        which. Nothing else competes here (tests/test_by_name.py has dnf choose for real)."""
        installed = root / "pkgrun" / ".installed.json"
        landed = json.loads(installed.read_text()) if installed.is_file() else {}
        if command[:2] == ["rpm", "-q"] and "--qf" in command:
            nevra = landed.get(command[-1])
            return (0, nevra + "\n") if nevra else (1, f"package {command[-1]} is not installed\n")
        if command[0] not in ("dnf", "yum") or not {"install", "upgrade"} & set(command):
            return None
        disabled = {a.split("=", 1)[1] for a in command if a.startswith("--disablerepo=")}
        name, offers = command[-1], []
        for rpm in (root / "pkgrun" / "repos").glob("*/*.rpm"):
            if rpm.parent.name not in disabled:
                info = read_rpm(rpm)
                if info.header["NAME"] == name:
                    offers.append(info)
        if not offers:
            return 1, f"No match for argument: {name}\n"
        newest = max(
            offers, key=lambda i: EVR(int(i.header["EPOCH"]), i.header["VERSION"], i.header["RELEASE"])
        )
        landed[name] = newest.nevra
        installed.write_text(json.dumps(landed))
        return 0, f"Installed: {newest.nevra}\n"

    def _nfpm(self, root: Path, command: list[str], inside: Callable[[str], str]) -> tuple[int, str]:
        config = json.loads(Path(inside(command[command.index("--config") + 1])).read_text())
        for item in config["contents"]:
            if item.get("type") != "symlink" and "src" in item:
                item["src"] = inside(item["src"])
        config["scripts"] = {key: inside(path) for key, path in config["scripts"].items()}
        return _make_rpm(config, Path(inside(command[command.index("--target") + 1])))

    def _fpm(self, root: Path, argv: list[str], inside: Callable[[str], str]) -> tuple[int, str]:
        """What fpm -s dir -t rpm makes of ``argv``, made with nfpm."""
        end = argv.index("--")
        flags, paths = argv[1:end], argv[end + 1 :]
        values: dict[str, list[str]] = {}
        i = 0
        while i < len(flags):
            if flags[i] == "-f":  # fpm's one switch here; every other flag has a value
                i += 1
                continue
            values.setdefault(flags[i], []).append(flags[i + 1])
            i += 2

        def one(flag: str) -> str:
            return values[flag][0].replace("%%", "%")

        staging = Path(inside(one("-C")))
        hooks = {
            flag.removeprefix("--"): Path(inside(values[flag][0])).read_text().replace("%%", "%")
            for flag in values
            if flag.startswith(("--before-", "--after-"))
        }
        config_files = set(values.get("--config-files", []))
        owned = values.get("--directories", [])
        contents = []
        for top in paths:
            for dirpath, dirs, files in os.walk(staging / top):
                for name in sorted(dirs + files):
                    path = Path(dirpath) / name
                    dest = "/" + str(path.relative_to(staging))
                    mode = path.lstat().st_mode & 0o7777
                    info = {"mode": mode, "owner": "root", "group": "root"}
                    if path.is_symlink():
                        contents.append(
                            {"src": os.readlink(path), "dst": dest, "type": "symlink", "file_info": info}
                        )
                    elif path.is_dir():
                        if any(dest == d or dest.startswith(d + "/") for d in owned):
                            contents.append({"dst": dest, "type": "dir", "file_info": info})
                    else:
                        marked = any(dest == c or dest.startswith(c + "/") for c in config_files)
                        kind = "config|noreplace" if marked else ""
                        contents.append({"src": str(path), "dst": dest, "type": kind, "file_info": info})
        scripts_dir = root / "fake-fpm-scripts"
        scripts_dir.mkdir(exist_ok=True)
        scripts = {}
        for key, text in fpm_style_scripts(hooks).items():
            (scripts_dir / key).write_text(text)
            scripts[key] = str(scripts_dir / key)
        config = {
            "name": one("-n"),
            "arch": one("-a"),
            "platform": "linux",
            "epoch": one("--epoch"),
            "version": one("-v"),
            "version_schema": "none",
            "release": one("--iteration"),
            "maintainer": one("-m"),
            "description": one("--description"),
            "vendor": one("--vendor") if "--vendor" in values else "",
            "homepage": one("--url"),
            "license": one("--license"),
            # rpmbuild adds /bin/sh for the scriptlets; --rpm-tag "Requires(pre): X" requires X
            "depends": [
                *values.get("-d", []),
                *(
                    tag.split(": ", 1)[1]
                    for tag in values.get("--rpm-tag", [])
                    if tag.startswith("Requires(")
                ),
                *(["/bin/sh"] if hooks else []),
            ],
            "contents": contents,
            "scripts": scripts,
            "rpm": {"summary": one("--rpm-summary"), "compression": one("--rpm-compression")},
        }
        return _make_rpm(config, Path(inside(one("-p"))))


class FakeFleet:
    """Several fake engines, one per service URL or connection name (``podman --url URL ...``,
    ``docker --context NAME ...``; "" is the local engine): build hosts."""

    def __init__(self, root: Path, urls: Sequence[str]) -> None:
        self.engines = {url: FakeEngine(root / str(i)) for i, url in enumerate(urls)}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeFleet:
        for verb in ("run", "run_logged", "run_to_file"):
            monkeypatch.setattr(pkgrun.engine.container, verb, self._routed(verb))
        monkeypatch.setattr(pkgrun.engine.container, "find_tool", lambda name, hint=None: f"/usr/bin/{name}")
        return self

    def _routed(self, verb: str) -> Callable[..., object]:
        def call(argv: Sequence[str], *args: object, **kwargs: object) -> object:
            # the service: a URL, or a named connection or context
            url = str(argv[2]) if str(argv[1]) in ("--url", "--host", "--connection", "--context") else ""
            return getattr(self.engines[url], verb)(argv, *args, **kwargs)

        return call


def _make_rpm(config: dict[str, object], target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    file = target.with_suffix(".nfpm.json")
    file.write_text(json.dumps(config))
    code, out = _host(
        [find_tool("nfpm"), "package", "--config", str(file), "--packager", "rpm", "--target", str(target)]
    )
    file.unlink()
    return code, out


def _host(argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", "surrogateescape")


def read_tar(data: bytes) -> dict[str, bytes]:
    """An archive's regular files by name (for tests that look at what went into a container)."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isreg():
                extracted = tar.extractfile(member)
                assert extracted is not None
                out[member.name] = extracted.read()
    return out
