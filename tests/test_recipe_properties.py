"""Property: whatever a recipe file says, pkgrun accepts it or refuses it with exit 2, naming
the file and the field; it never fails with an internal error or a traceback.

The seed recipes are mutated (keys deleted, added or replaced by values of every TOML type,
strings with any character, bytes of the file flipped, inserted or cut) and each mutant is
checked both through the library (every problem names the file, and a field where the file
parsed) and through the command line (exit code and output)."""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import RECIPES, toml_dumps
from pkgrun.cli.main import main
from pkgrun.errors import RecipeError
from pkgrun.recipe.directory import load_recipes

SEEDS = ("nginx", "php", "supervisor")
# strings a hostile author would try, beside random text
NASTY = st.sampled_from(
    ["", "-", "--", "-rf", "--prefix=/", "..", "../x", "/", "/etc/passwd", "a/../../b", "{version}", "{0}",
     "{version!r}", "%post", "$(touch /tmp/x)", "x\ny", "\x1b[2J", "\u202e", "a" * 5000, "1.0-1", "SC2086",
     "nginx", "php", "el7", "yum", "local", "x86_64", "noarch", "sha256", "build.sh"]
)  # fmt: skip
TEXT = st.one_of(NASTY, st.text(max_size=40))
SCALARS = st.one_of(
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path and list index path in ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, seed: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = sorted(paths(data), key=repr)
        if not where:
            break
        path = draw(st.sampled_from(where))
        *parents, last = path
        container: Any = data
        for part in parents:
            container = container[part]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del container[last]
        elif action == "replace":
            container[last] = draw(VALUES)
        elif isinstance(container, dict):
            container[draw(TEXT)] = draw(VALUES)
        else:
            container.append(draw(VALUES))
    return data


@st.composite
def mangled_bytes(draw: st.DrawFn, text: bytes) -> bytes:
    data = bytearray(text)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        at = draw(st.integers(min_value=0, max_value=len(data)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip" and at < len(data):
            data[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(min_value=1, max_value=40))]
    return bytes(data)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        for name in SEEDS:
            shutil.copytree(RECIPES / name, Path(tmp) / "recipes" / name)
        yield Path(tmp)


def check(workspace: Path, name: str, content: bytes, parsed: bool) -> None:
    recipes = workspace / "recipes"
    file = recipes / name / "recipe.toml"
    file.write_bytes(content)
    env = {"XDG_CACHE_HOME": str(workspace / "cache")}
    try:
        load_recipes(recipes, [name], cache_dir=workspace / "cache")
    except RecipeError as exc:
        for problem in exc.problems:
            assert problem.file == file, problem
            if parsed:  # the file is TOML: every problem is pinned on a field
                assert problem.field, problem
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--recipes", str(recipes), "check", name], env=env)
    text = err.getvalue()
    assert code in (0, 2), text
    assert "internal error" not in text and "Traceback" not in text, text
    if code == 2:
        assert f"error: {file}: " in text, text


@pytest.mark.parametrize("name", SEEDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_values_are_accepted_or_refused_with_file_and_field(
    workspace: Path, name: str, data: st.DataObject
) -> None:
    seed = tomllib.loads((RECIPES / name / "recipe.toml").read_text())
    mutant = data.draw(mutated(seed))
    check(workspace, name, toml_dumps(mutant).encode(), parsed=True)


@pytest.mark.parametrize("name", SEEDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mangled_bytes_are_accepted_or_refused_with_the_file(
    workspace: Path, name: str, data: st.DataObject
) -> None:
    content = data.draw(mangled_bytes((RECIPES / name / "recipe.toml").read_bytes()))
    check(workspace, name, content, parsed=False)
