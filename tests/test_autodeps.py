"""The generated Requires and Provides: rpm's own generators over the packaged files, the same
list for nfpm and fpm, filtered as rpm's %__requires_exclude filters.

The expected sonames are read from the ELF files with readelf (binutils), independently of
rpm: a library provides its SONAME, a program requires each library it was linked against.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import demo, require_tools
from pkgrun.build import autodeps
from pkgrun.build.autodeps import Generated, generate, packaged_files, staged_files
from pkgrun.build.fpm import FpmPaths, fpm_argv
from pkgrun.build.nfpm import with_generated
from pkgrun.errors import PkgrunError
from pkgrun.recipe.model import AutoDeps, Files
from pkgrun.targets import get_target


@pytest.fixture(autouse=True)
def tools() -> None:
    require_tools("rpm", "gcc", "readelf")


def dynamic(path: Path, tag: str) -> list[str]:
    """The values of a dynamic section tag (NEEDED, SONAME) as readelf prints them."""
    out = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    return re.findall(rf"\({tag}\)\s+\S+.*\[(.+)\]", out)


@pytest.fixture(scope="module")
def elves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A shared library with a soname and a program linked against it and libm."""
    where = tmp_path_factory.mktemp("elves")
    (where / "demo.c").write_text("int demo(void) { return 42; }\n")
    (where / "main.c").write_text(
        "#include <math.h>\nint demo(void);\nint main(int c, char **v) { return demo() + (int)sqrt(c); }\n"
    )
    lib, prog, plain = where / "libdemo.so.1.0", where / "prog", where / "libplain.so"
    demo = str(where / "demo.c")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libdemo.so.1", "-o", str(lib), demo], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plain), demo], check=True)  # no soname
    subprocess.run(["gcc", "-o", str(prog), str(where / "main.c"), str(lib), "-lm"], check=True)
    return {"lib": lib, "prog": prog, "plain": plain}


def test_a_library_provides_its_soname_and_a_program_requires_what_it_links(elves: dict[str, Path]) -> None:
    found = generate(
        [("/usr/lib64/libdemo.so.1.0", elves["lib"]), ("/usr/bin/prog", elves["prog"])], AutoDeps()
    )
    (soname,) = dynamic(elves["lib"], "SONAME")
    assert f"{soname}()(64bit)" in found.provides
    needed = dynamic(elves["prog"], "NEEDED")
    assert {"libdemo.so.1", "libm.so.6", "libc.so.6"} <= set(needed)
    for library in needed:
        assert f"{library}()(64bit)" in found.requires
    # versioned symbols of glibc, as rpmbuild writes them
    assert any(re.fullmatch(r"libc\.so\.6\(GLIBC_[0-9.]+\)\(64bit\)", r) for r in found.requires)
    assert found.requires == tuple(sorted(found.requires)) and found.scanned == 2


def test_a_script_requires_its_interpreter_only_when_it_is_executable(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/bin/bash\necho hi\n")
    script.chmod(0o644)
    assert generate([("/usr/bin/tool", script)], AutoDeps()).requires == ()
    script.chmod(0o755)
    assert generate([("/usr/bin/tool", script)], AutoDeps()).requires == ("/bin/bash",)


def test_filters_work_as_rpms_exclude_macros(elves: dict[str, Path]) -> None:
    files = [("/usr/lib64/libdemo.so.1.0", elves["lib"]), ("/usr/bin/prog", elves["prog"])]
    every = generate(files, AutoDeps())
    filtered = generate(
        files, AutoDeps.model_validate({"requires-exclude": [r"^libm\.so"], "provides-exclude": ["^libdemo"]})
    )
    assert filtered.requires == tuple(r for r in every.requires if not r.startswith("libm.so"))
    assert not any(p.startswith("libdemo") for p in filtered.provides)
    assert any(p.startswith("libdemo") for p in every.provides)
    # exclude-from: the program is not scanned at all, the library still is
    alone = generate(files, AutoDeps.model_validate({"exclude-from": ["^/usr/bin/"]}))
    assert alone == generate(files[:1], AutoDeps()) and alone.scanned == 1
    assert generate(files, AutoDeps(enabled=False)) == Generated()


def tar_of(tmp_path: Path, members: dict[str, tuple[bytes, int]], links: dict[str, str]) -> Path:
    archive = tmp_path / "tree.tar"
    with tarfile.open(archive, "w") as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return archive


def test_only_the_packaged_regular_files_are_scanned(tmp_path: Path, elves: dict[str, Path]) -> None:
    """Files outside [files] paths and links are not read; names from the archive never name a
    file on this machine; [files.add] replaces a staged file of its path, at 0644."""
    archive = tar_of(
        tmp_path,
        {
            "./usr/bin/prog": (elves["prog"].read_bytes(), 0o755),
            "./opt/other/prog": (elves["prog"].read_bytes(), 0o755),
            "./usr/share/x/../../bin/run": (b"#!/bin/sh\n", 0o755),
            "./usr/lib/tool": (b"#!/bin/dash\n", 0o755),
        },
        {"./usr/bin/link": "/etc/shadow"},
    )
    into = tmp_path / "into"
    into.mkdir()
    found = staged_files(archive, ["usr"], into)
    assert sorted(path for path, _ in found) == ["/usr/bin/prog", "/usr/bin/run", "/usr/lib/tool"]
    # each under its own name, in a directory of pkgrun's: never a path the archive names
    assert all(local.parent.parent == into and local.name == path.rsplit("/", 1)[1] for path, local in found)
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    (recipe_dir / "tool").write_text("#!/bin/dash\n")
    (recipe_dir / "tool").chmod(0o755)
    files = Files.model_validate({"paths": ["usr"], "add": {"/usr/lib/tool": "tool"}})
    shutil.rmtree(into)
    into.mkdir()
    packaged = dict(packaged_files(archive, files, recipe_dir, into))
    assert (packaged["/usr/lib/tool"].stat().st_mode & 0o777) == 0o644
    generated = generate(packaged.items(), AutoDeps())
    assert "/bin/dash" not in generated.requires and "/bin/sh" in generated.requires


def test_nfpm_and_fpm_are_given_the_same_generated_lists() -> None:
    recipe = demo()
    target = get_target("el9")
    generated = Generated(("libc.so.6()(64bit)", "rtld(GNU_HASH)"), ("libdemo.so.1()(64bit)",), 2)
    argv = fpm_argv(recipe, "1.0", target, FpmPaths("/s", "/w", "/h", "/p"), generated=generated)
    depends = [argv[i + 1] for i, flag in enumerate(argv) if flag == "-d"]
    provides = [argv[i + 1] for i, flag in enumerate(argv) if flag == "--provides"]
    config = with_generated({"depends": recipe.requires_for(target)}, generated)
    assert depends == config["depends"] == [*recipe.requires_for(target), *generated.requires]
    assert provides == config["provides"] == list(generated.provides)


@pytest.mark.parametrize("line", ["-rf", "two words", "libfoo >= ", "a ~> 1"])
def test_what_rpmdeps_writes_is_checked(line: str) -> None:
    assert autodeps._lines("libc.so.6()(64bit)\nx >= 1.0\n") == ("libc.so.6()(64bit)", "x >= 1.0")
    with pytest.raises(PkgrunError, match="not a dependency"):
        autodeps._lines(f"libc.so.6()(64bit)\n{line}\n")


SPEC = """Name: demo
Version: 1.0
Release: 1
Summary: demo
License: MIT
%description
demo
%install
cp -a {stage}/. %{{buildroot}}/
%files
/usr
"""


def test_the_lists_are_those_rpmbuild_generates(tmp_path: Path, elves: dict[str, Path]) -> None:
    """rpmbuild's own AutoReqProv over the same files: the same Requires and Provides."""
    require_tools("rpmbuild")
    stage = tmp_path / "stage"
    for path, source, mode in (
        ("usr/lib64/libdemo.so.1.0", elves["lib"], 0o755),
        ("usr/bin/prog", elves["prog"], 0o755),
        ("usr/lib64/libplain.so", elves["plain"], 0o755),  # no soname: rpm names it by its file
        ("usr/bin/tool", None, 0o755),
        ("usr/share/demo/notes", None, 0o644),
    ):
        target = stage / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source is None:
            target.write_text("#!/bin/bash\necho hi\n")
        else:
            shutil.copyfile(source, target)
        target.chmod(mode)
    (tmp_path / "demo.spec").write_text(SPEC.format(stage=stage))
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {tmp_path / 'top'}", "--define", "debug_package %{nil}",
         "--define", "__strip /bin/true", "--define", "__brp_strip /bin/true", str(tmp_path / "demo.spec")],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = (tmp_path / "top" / "RPMS").rglob("*.rpm")

    def listed(what: str) -> set[str]:
        out = subprocess.run(["rpm", "-qp", what, str(built)], check=True, capture_output=True, text=True)
        return {line for line in out.stdout.splitlines() if not line.startswith(("rpmlib(", "demo"))}

    into = tmp_path / "into"
    into.mkdir()
    archive = tmp_path / "tree.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(stage, arcname=".")
    found = generate(staged_files(archive, ["usr"], into), AutoDeps())
    assert set(found.requires) == listed("--requires") and found.requires
    assert set(found.provides) == listed("--provides") and "libplain.so()(64bit)" in found.provides


@pytest.mark.parametrize("name", ["a\nb", "with\x1bescape", "bytes\udcff", "-rf", "..hidden", "sp ace"])
def test_an_odd_file_name_in_the_staged_tree_is_scanned_safely(tmp_path: Path, name: str) -> None:
    archive = tar_of(tmp_path, {f"./usr/bin/{name}": (b"#!/bin/dash\necho\n", 0o755)}, {})
    into = tmp_path / "into"
    into.mkdir()
    found = staged_files(archive, ["usr"], into)
    assert [path for path, _ in found] == [f"/usr/bin/{name}"]
    assert all(local.is_relative_to(into) for _, local in found)
    assert generate(found, AutoDeps()).requires == ("/bin/dash",)
