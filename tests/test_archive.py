"""The archives files go into containers as: what goes in, what is left out, and how they end."""

from __future__ import annotations

import tarfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pkgrun.archive import Item, write_archive


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 30_000), max_size=6))
def test_an_archive_ends_at_its_end_blocks_whatever_its_size(tmp_path_factory, sizes: list[int]) -> None:
    """No padding after the two end-of-archive blocks: an engine stops reading there, and
    `podman cp -` failed on bytes still being written after them."""
    out = tmp_path_factory.mktemp("a") / "in.tar"
    write_archive(out, [Item(f"/pkgrun/f{i}", data=b"x" * n) for i, n in enumerate(sizes)])
    data = out.read_bytes()
    assert len(data) % 512 == 0 and data[-1024:] == b"\0" * 1024
    with tarfile.open(out) as tar:
        members = tar.getmembers()
        end = max((m.offset_data + -(-m.size // 512) * 512 for m in members), default=0)
        assert [m.name for m in members if m.isfile()] == [f"pkgrun/f{i}" for i in range(len(sizes))]
    assert len(data) == end + 1024


def test_a_tree_goes_in_but_what_is_left_out(tmp_path: Path) -> None:
    tree = tmp_path / "recipe"
    (tree / "conf").mkdir(parents=True)
    for name in ("build.sh", "after_install.sh", "conf/nginx.conf", "conf/mime.types"):
        (tree / name).write_text(name)
    out = tmp_path / "in.tar"
    write_archive(out, [], [(tree, "/pkgrun/recipe")], leave_out={"after_install.sh", "conf/nginx.conf"})
    with tarfile.open(out) as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert files == ["pkgrun/recipe/build.sh", "pkgrun/recipe/conf/mime.types"]
