"""What a run does with one request (decide.py), as a table: the request's mode, what the
repository publishes and its build index in; the action, the release it builds and why out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import RECIPES, seed_recipe
from pkgrun.build import cache as buildcache
from pkgrun.build.plan import Options, make_plan
from pkgrun.pipeline.decide import Action, ReleaseTaken, decide
from pkgrun.pipeline.outcome import Mode
from pkgrun.recipe.model import LoadedRecipe
from pkgrun.repo.data import DistView
from pkgrun.rpm.evr import EVR
from pkgrun.targets import TARGETS

PLAN = make_plan(
    LoadedRecipe(seed_recipe("nginx"), RECIPES / "nginx"),
    TARGETS["local"],
    out_dir=Path("o"),
    options=Options(),
)
INPUTS = buildcache.inputs_of(PLAN, image="sha256:abc", packager="nfpm v2")
CHANGED = replace(INPUTS, image="sha256:def")


def view(tmp_path: Path, iterations: list[str], indexed: str | None = None) -> DistView:
    """The local repository publishing nginx 1.22.1 (its version for local) in ``iterations``;
    its build index records the build of ``indexed`` with INPUTS."""
    dist_dir = tmp_path / "local"
    (dist_dir / "x86_64").mkdir(parents=True, exist_ok=True)
    packages, listed = [], set()
    for iteration in iterations:
        name = f"nginx-1.22.1-{iteration}.local.x86_64.rpm"
        path = dist_dir / "x86_64" / name
        path.write_bytes(b"rpm")
        packages.append((SimpleNamespace(name="nginx"), EVR(0, "1.22.1", f"{iteration}.local"), path))
        listed.add(name)
    index = {}
    if indexed is not None:
        index[buildcache.key(PLAN)] = {
            "digest": INPUTS.digest(),
            "inputs": INPUTS.__dict__,
            "nevra": f"nginx-0:1.22.1-{indexed}.local.x86_64",
            "file": f"nginx-1.22.1-{indexed}.local.x86_64.rpm",
        }
    return DistView(dist_dir, tuple(packages), frozenset(listed), index)


# mode, published iterations, indexed, inputs, flags -> action, iteration, the reason begins
TABLE = [
    (Mode.ALWAYS, [], None, INPUTS, {}, Action.BUILD, "2", "named on the command line"),
    (
        Mode.ALWAYS,
        ["2"],
        None,
        INPUTS,
        {},
        Action.BUILD,
        "2.1",
        "named on the command line; nginx-1.22.1-2.local is published already: this build is 2.1.local",
    ),
    (
        Mode.ALWAYS,
        ["2", "2.1"],
        None,
        INPUTS,
        {},
        Action.BUILD,
        "2.2",
        "named on the command line; nginx-1.22.1-2.local is published",
    ),
    (
        Mode.ALWAYS,
        ["2.1"],
        None,
        INPUTS,
        {},
        Action.BUILD,
        "2.2",
        "named on the command line; a later release of nginx-1.22.1-2.local",
    ),
    (
        Mode.ALWAYS,
        ["2"],
        None,
        INPUTS,
        {"force": True},
        Action.BUILD,
        "2",
        "named on the command line; nginx-1.22.1-2.local is published already: --force replaces it",
    ),
    (Mode.IF_MISSING, [], None, INPUTS, {}, Action.BUILD, "2", "needed, and not published"),
    (
        Mode.IF_MISSING,
        ["1", "2"],
        None,
        INPUTS,
        {},
        Action.USE_PUBLISHED,
        "",
        "needed by a named recipe: nginx-1.22.1-2.local.x86_64.rpm is published",
    ),
    (Mode.IF_CHANGED, [], None, INPUTS, {}, Action.BUILD, "2", "never built for local"),
    (Mode.IF_CHANGED, ["2"], "2", INPUTS, {}, Action.SKIP, "", "inputs unchanged"),
    (Mode.IF_CHANGED, ["2"], "2", INPUTS, {"verify_skipped": True}, Action.VERIFY, "", "inputs unchanged"),
    (Mode.IF_CHANGED, ["2"], "2", CHANGED, {}, Action.BUILD, "2.1", "changed: build image changed"),
    (
        Mode.IF_CHANGED,
        [],
        "2",
        INPUTS,
        {},
        Action.BUILD,
        "2",
        "nginx-0:1.22.1-2.local.x86_64 is no longer published",
    ),
    (
        Mode.IF_CHANGED,
        ["2"],
        "2",
        INPUTS,
        {"failed": ["openssl"]},
        Action.BLOCKED,
        "",
        "needs openssl, which failed",
    ),
    (
        Mode.ALWAYS,
        [],
        None,
        INPUTS,
        {"failed": ["openssl"]},
        Action.BLOCKED,
        "",
        "needs openssl, which failed",
    ),
]


@pytest.mark.parametrize(
    ("mode", "published", "indexed", "inputs", "flags", "action", "iteration", "reason"), TABLE
)
def test_decisions(
    tmp_path: Path, mode, published, indexed, inputs, flags, action, iteration, reason
) -> None:
    decision = decide(mode, PLAN, inputs, view(tmp_path, published, indexed), **flags)
    assert (decision.action, decision.iteration) == (action, iteration)
    assert decision.reason.startswith(reason), decision.reason
    assert decision.builds is (action in (Action.BUILD, Action.VERIFY))


def test_a_skipped_or_used_package_is_the_published_file(tmp_path: Path) -> None:
    published = view(tmp_path, ["1", "2"], "2")
    used = decide(Mode.IF_MISSING, PLAN, INPUTS, published)
    skipped = decide(Mode.IF_CHANGED, PLAN, INPUTS, published)
    assert used.published == skipped.published == tmp_path / "local/x86_64/nginx-1.22.1-2.local.x86_64.rpm"
    assert skipped.nevra == "nginx-0:1.22.1-2.local.x86_64"


def test_a_named_iteration_that_is_published_is_refused_with_the_line_to_raise(tmp_path: Path) -> None:
    with pytest.raises(ReleaseTaken) as refused:
        decide(Mode.ALWAYS, PLAN, INPUTS, view(tmp_path, ["2"]), named=True)
    assert "--iteration 2 names it" in refused.value.message
    assert f'raise iteration = 2 in {RECIPES / "nginx" / "recipe.toml"}:8 to "2.1" or higher' in (
        refused.value.hint or ""
    )
    # --force replaces it, named or not
    assert decide(Mode.ALWAYS, PLAN, INPUTS, view(tmp_path, ["2"]), named=True, force=True).iteration == "2"
