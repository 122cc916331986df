"""Small helpers shared by the tests."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pkgrun.recipe import Recipe, parse_recipe

PROJECT = Path(__file__).resolve().parent.parent
RECIPES = PROJECT / "recipes"
DEMO_SHA = {"1.0": "a" * 64, "2.0": "b" * 64}

DEMO = """
[package]
name = "demo"
version = "1.0"
summary = "demo"
license = "MIT"
url = "https://example.org/"
maintainer = "me"

[source]
url = "https://example.org/demo-{{version}}.tar.gz"
sha256 = {{ "1.0" = "{one}", "2.0" = "{two}" }}

[build]
script = "build.sh"
""".format(one=DEMO_SHA["1.0"], two=DEMO_SHA["2.0"])


def seed_recipe(name: str) -> Recipe:
    """One of the project's recipes, parsed without touching the files it names (pure)."""
    file = RECIPES / name / "recipe.toml"
    with file.open("rb") as fh:
        return parse_recipe(tomllib.load(fh), file)


def demo_toml(*sections: str) -> str:
    """A minimal valid recipe text plus extra TOML sections ([files] defaults to usr)."""
    text = DEMO + "\n".join(sections)
    if "[files]" not in text:
        text += '\n[files]\npaths = ["usr"]\n'
    return text


def demo(*sections: str) -> Recipe:
    return parse_recipe(tomllib.loads(demo_toml(*sections)), Path("demo/recipe.toml"))
