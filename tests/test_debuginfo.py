"""find-debuginfo as a build runs it, on a real staging tree: the binaries stripped, their debug
sections in /usr/lib/debug found through rpmbuild's .build-id links by the id the stripped
binary carries, the same bytes from the same build, other ids for another release."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import require_tools
from pkgrun.build.debuginfo import (
    BUILD_ID_DIR,
    DEBUG_DIR,
    build_id_links,
    find_debuginfo_argv,
    find_debuginfo_env,
    parse_build_ids,
)
from pkgrun.targets import TARGETS


def test_find_debuginfo_argv_per_target() -> None:
    assert find_debuginfo_argv(TARGETS["el7"], "1.0", "2.el7", "/b") == [
        "/usr/lib/rpm/find-debuginfo.sh", "--strict-build-id", "-o", "debugfiles.list", "/b",
    ]  # fmt: skip
    assert find_debuginfo_argv(TARGETS["el8"], "1.0", "2.el8", "/b") == [
        "/usr/lib/rpm/find-debuginfo.sh", "--strict-build-id", "--build-id-seed", "1.0-2.el8",
        "-S", "debugsources.list", "-o", "debugfiles.list", "/b",
    ]  # fmt: skip
    for name in ("el9", "el10", "local"):
        assert find_debuginfo_argv(TARGETS[name], "1.0", "2", "/b")[:4] == [
            "/usr/bin/find-debuginfo", "--strict-build-id", "--build-id-seed", "1.0-2",
        ]  # fmt: skip


def test_build_id_links_are_rpmbuilds_compat_layout() -> None:
    main, debug = build_id_links({"/usr/sbin/nginx": "ab" + "cd" * 19})
    rest = "cd" * 19
    assert [(link.path, link.target) for link in main] == [
        (f"{BUILD_ID_DIR}/ab/{rest}", "../../../../usr/sbin/nginx"),
    ]
    assert [(link.path, link.target) for link in debug] == [
        (f"{DEBUG_DIR}/.build-id/ab/{rest}.debug", "../../../../../usr/lib/debug/usr/sbin/nginx.debug"),
        (f"{DEBUG_DIR}/.build-id/ab/{rest}", f"../../../.build-id/ab/{rest}"),
    ]


PROGRAM = '#include <stdio.h>\nextern int greet(void);\nint main(void) { puts("hi"); return greet(); }\n'
LIBRARY = "int greet(void) { return 0; }\n"


def staged_build(where: Path, release: str) -> tuple[Path, dict[str, str]]:
    """A program and a shared library compiled with -g into a staging tree, find-debuginfo run
    over it as a build runs it; the tree and the build ids of the stripped files."""
    build, root = where / "build", where / "root"
    shutil.rmtree(where, ignore_errors=True)
    (build / "src").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib64").mkdir(parents=True)
    (build / "src/hi.c").write_text(PROGRAM)
    (build / "src/greet.c").write_text(LIBRARY)
    compile_ = ["gcc", "-g", "-O2"]
    subprocess.run(
        [*compile_, "-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o", root / "usr/lib64/libgreet.so.1",
         "src/greet.c"], cwd=build, check=True,
    )  # fmt: skip
    subprocess.run(
        [*compile_, "-o", root / "usr/bin/hi", "src/hi.c", "-L", root / "usr/lib64", "-l:libgreet.so.1"],
        cwd=build, check=True,
    )  # fmt: skip
    target = TARGETS["local"]
    env = find_debuginfo_env("hi", "1.0", release, "x86_64", str(root), str(build))
    argv = find_debuginfo_argv(target, "1.0", release, str(build))
    subprocess.run([os.path.basename(argv[0]), *argv[1:]], cwd=build, env={**os.environ, **env},
                   check=True, capture_output=True)  # fmt: skip
    binaries = [root / "usr/bin/hi", root / "usr/lib64/libgreet.so.1"]
    notes = subprocess.run(
        ["readelf", "--notes", "--wide", *binaries], capture_output=True, text=True, check=True
    )
    return root, parse_build_ids(notes.stdout, str(root), list(map(str, binaries)))


def sections(file: Path) -> str:
    return subprocess.run(
        ["readelf", "-S", "--wide", file], capture_output=True, text=True, check=True
    ).stdout


def test_find_debuginfo_strips_and_the_links_find_the_debug_file(tmp_path: Path) -> None:
    require_tools("find-debuginfo", "gcc", "readelf", "eu-strip", "cpio")
    root, ids = staged_build(tmp_path / "one", "1.local")
    assert sorted(ids) == ["/usr/bin/hi", "/usr/lib64/libgreet.so.1"]
    assert ".symtab" not in sections(root / "usr/bin/hi") and ".debug_info" not in sections(
        root / "usr/bin/hi"
    )
    main, debug = build_id_links(ids)
    for link in [*main, *debug]:
        (root / link.path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / link.path.lstrip("/")).symlink_to(link.target)
    for path, build_id in ids.items():
        debug_file = root / f"usr/lib/debug/.build-id/{build_id[:2]}/{build_id[2:]}.debug"
        assert debug_file.resolve() == (root / f"usr/lib/debug{path}.debug").resolve()
        assert ".debug_info" in sections(debug_file)
        notes = subprocess.run(["readelf", "--notes", debug_file], capture_output=True, text=True, check=True)
        assert f"Build ID: {build_id}" in notes.stdout
        # and the compat link leads to the installed file, through the main package's link
        assert (root / f"usr/lib/debug/.build-id/{build_id[:2]}/{build_id[2:]}").resolve() == (
            root / path.lstrip("/")
        ).resolve()
    assert (root / "usr/src/debug/src/hi.c").read_text() == PROGRAM


def test_the_same_build_gives_the_same_bytes_and_another_release_other_ids(tmp_path: Path) -> None:
    require_tools("find-debuginfo", "gcc", "readelf", "eu-strip", "cpio")
    files = ["usr/bin/hi", "usr/lib/debug/usr/bin/hi.debug", "usr/lib64/libgreet.so.1"]
    root, first_ids = staged_build(tmp_path / "b", "1.local")
    first = {f: (root / f).read_bytes() for f in files}
    root, again_ids = staged_build(tmp_path / "b", "1.local")
    assert again_ids == first_ids and {f: (root / f).read_bytes() for f in files} == first
    _, other_ids = staged_build(tmp_path / "b", "2.local")
    assert set(other_ids.values()).isdisjoint(first_ids.values())


def test_parse_build_ids_reads_every_file_readelf_names() -> None:
    out = (
        "\nFile: /r/usr/bin/a\n\nDisplaying notes found in: .note.gnu.build-id\n"
        "  Owner  Data size \tDescription\n  GNU  0x00000014\tNT_GNU_BUILD_ID (unique build ID bitstring)"
        "\t    Build ID: 0123abcd\n"
        "\nFile: /r/usr/lib64/b.so\n"
        "    Build ID: ffee\n"
    )
    # readelf --wide puts the id on the note's line; without it, on a line of its own
    for text in (out, out.replace("\t    Build ID", "\n    Build ID")):
        assert parse_build_ids(text, "/r", ["/r/usr/bin/a", "/r/usr/lib64/b.so"]) == {
            "/usr/bin/a": "0123abcd",
            "/usr/lib64/b.so": "ffee",
        }
    # one file: no File: line
    one = out.split("\nFile: /r/usr/lib64")[0].replace("File: /r/usr/bin/a\n", "")
    assert parse_build_ids(one, "/r", ["/r/usr/bin/a"]) == {"/usr/bin/a": "0123abcd"}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_names_a_find_debuginfo(name: str) -> None:
    assert TARGETS[name].debuginfo.path.startswith("/usr/")
