"""One staging tree into a set of packages: every staged path in exactly one package, each part
holding only what its patterns claim, and the recipe's mistakes named with file and field."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgrun.build.split import DEVEL_LINKS, DEVEL_PATTERNS, Part, matches, split
from pkgrun.build.staging import Entry, NotStaged

LIBRARY = [
    Entry("d", 0o755, "/usr/include"),
    Entry("d", 0o755, "/usr/include/greet"),
    Entry("f", 0o644, "/usr/include/greet/greet.h"),
    Entry("d", 0o755, "/usr/lib64"),
    Entry("l", 0o777, "/usr/lib64/libgreet.so", "libgreet.so.1"),
    Entry("l", 0o777, "/usr/lib64/libgreet.so.1", "libgreet.so.1.0.0"),
    Entry("f", 0o755, "/usr/lib64/libgreet.so.1.0.0"),
    Entry("f", 0o755, "/usr/lib64/greet-plugin.so"),
    Entry("d", 0o755, "/usr/lib64/pkgconfig"),
    Entry("f", 0o644, "/usr/lib64/pkgconfig/greet.pc"),
    Entry("d", 0o755, "/usr/share/doc/greet"),
    Entry("f", 0o644, "/usr/share/doc/greet/README"),
]
DEVEL = Part("libgreet-devel", "subpackages.devel.files", DEVEL_PATTERNS, DEVEL_LINKS, preset=True)


def paths(entries: list[Entry]) -> list[str]:
    return [e.path for e in entries]


def test_a_library_splits_as_rpm_packagers_split_it() -> None:
    """-devel: headers, the .pc file and the unversioned .so link; the versioned library and a
    plugin (a .so file, not a link) stay in the main package."""
    doc = Part("libgreet-doc", "subpackages.doc.files", ("/usr/share/doc",))
    out = split("libgreet", [DEVEL, doc], LIBRARY, "recipes/libgreet/recipe.toml")
    assert paths(out["libgreet-devel"]) == [
        "/usr/include",
        "/usr/include/greet",
        "/usr/include/greet/greet.h",
        "/usr/lib64/libgreet.so",
        "/usr/lib64/pkgconfig/greet.pc",
    ]
    assert paths(out["libgreet"]) == [  # a directory a pattern does not match stays listed here
        "/usr/lib64",
        "/usr/lib64/libgreet.so.1",
        "/usr/lib64/libgreet.so.1.0.0",
        "/usr/lib64/greet-plugin.so",
        "/usr/lib64/pkgconfig",
    ]
    assert paths(out["libgreet-doc"]) == ["/usr/share/doc/greet", "/usr/share/doc/greet/README"]


def test_a_path_two_parts_claim_names_both_fields() -> None:
    doc = Part("libgreet-doc", "subpackages.doc.files", ("/usr/share/doc", "/usr/include/greet/*.h"))
    with pytest.raises(NotStaged) as caught:
        split("libgreet", [DEVEL, doc], LIBRARY, "recipes/libgreet/recipe.toml")
    assert str(caught.value) == (
        "recipes/libgreet/recipe.toml: subpackages.devel.files[0] and subpackages.doc.files[1] both "
        "claim /usr/include/greet/greet.h"
    )


def test_an_explicit_pattern_that_matches_nothing_is_named_with_the_nearest_path() -> None:
    doc = Part("libgreet-doc", "subpackages.doc.files", ("/usr/share/doc", "/usr/share/man/*"))
    with pytest.raises(NotStaged) as caught:
        split("libgreet", [doc], LIBRARY, "r.toml")
    assert str(caught.value).startswith("r.toml: subpackages.doc.files[1]: /usr/share/man/* matches nothing")


def test_a_preset_needs_only_one_of_its_patterns_to_match() -> None:
    program = [Entry("d", 0o755, "/usr/local/bin"), Entry("f", 0o755, "/usr/local/bin/greet")]
    with pytest.raises(NotStaged, match="none of libgreet-devel's usual paths"):
        split("greet", [DEVEL], program, "r.toml")
    out = split("greet", [DEVEL], [*program, Entry("f", 0o644, "/usr/local/include/greet.h")], "r.toml")
    assert paths(out["libgreet-devel"]) == ["/usr/local/include/greet.h"]


NAMES = st.sampled_from(["usr", "lib64", "include", "share", "doc", "a.h", "b.so", "c.pc", "x"])
PATHS = st.lists(NAMES, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
ENTRIES = st.lists(
    st.builds(Entry, st.sampled_from("fdl"), st.just(0o644), PATHS), unique_by=lambda e: e.path, max_size=25
).map(lambda entries: sorted(entries, key=lambda e: e.path))
PATTERNS = st.lists(
    st.sampled_from(["*/include", "*.so", "/usr/share/*", "*/x", "*.pc", "/usr/lib64"]), max_size=3
)


@settings(max_examples=300, deadline=None)
@given(ENTRIES, PATTERNS, PATTERNS)
def test_every_staged_path_lands_in_exactly_one_package(
    entries: list[Entry], one: list[str], two: list[str]
) -> None:
    parts = [
        Part("p-one", "subpackages.one.files", tuple(one)),
        Part("p-two", "subpackages.two.files", tuple(two)),
    ]
    try:
        out = split("p", parts, entries, "r.toml")
    except NotStaged as refused:  # only for what the recipe got wrong
        claimed_twice = any(
            any(matches(a, e.path) for a in one) and any(matches(b, e.path) for b in two) for e in entries
        )
        unused = any(not any(matches(pattern, e.path) for e in entries) for pattern in [*one, *two])
        assert claimed_twice or unused, str(refused)
        return
    assert sorted(e.path for pkg in out.values() for e in pkg) == [e.path for e in entries]
    for part, patterns in (("p-one", one), ("p-two", two)):
        assert all(any(matches(p, e.path) for p in patterns) for e in out[part])
    assert not any(matches(p, e.path) for e in out["p"] for p in [*one, *two])


def test_a_pattern_claims_what_is_under_a_directory_it_matches() -> None:
    assert matches("*/include", "/usr/local/include/greet/greet.h")
    assert matches("/usr/share/doc", "/usr/share/doc/greet/README")
    assert not matches("/usr/share/doc", "/usr/share/docs/README")
    assert fnmatch.fnmatchcase("/usr/lib64/x/y.a", "*/lib*/*.a")  # * crosses /, as in rpm's %files
