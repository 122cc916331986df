"""Every example in README.md and docs/*.md, checked against pkgrun itself, as properties of all
their fenced blocks: a recipe fragment is a valid recipe once merged into a minimal one, a
pkgrun.toml loads, shell passes `bash -n`, each `pkgrun ...` line parses with pkgrun's own
parser and each `make TARGET` names a target of the Makefile, and every relative link leads to
a file and a heading that exist. Output shown in a console block (the error examples) is not
input: only its command lines are read."""

from __future__ import annotations

import argparse
import configparser
import contextlib
import io
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pkgrun.cli.main import _expand_shorthand, build_parser
from pkgrun.config.file import Config, load_config
from pkgrun.errors import ProblemsError
from pkgrun.recipe.directory import load_recipes
from pkgrun.recipe.model import Recipe, validate_recipe

PROJECT = Path(__file__).resolve().parent.parent
DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]

# what each block language is checked for; dockerfile and unlabelled blocks (diagrams, trees)
# are read by people only
CHECKED = {"toml", "sh", "bash", "console", "ini"}
KNOWN = CHECKED | {"dockerfile", ""}

RECIPE_TABLES = {field.alias or name for name, field in Recipe.model_fields.items()}
CONFIG_TABLES = {field.alias or name for name, field in Config.model_fields.items()}

# the smallest valid recipe a fragment is merged into: a misspelt field of the fragment stays
MINIMAL_RECIPE: dict[str, Any] = {
    "package": {
        "name": "demo",
        "version": "1.0",
        "summary": "demo",
        "license": "MIT",
        "url": "https://example.org/",
        "maintainer": "Docs <docs@example.org>",
    },
    "source": {"url": "https://example.org/demo-{version}.tar.gz", "sha256": {"1.0": "a" * 64}},
    "build": {"script": "build.sh"},
    "files": {"paths": ["usr"]},
}


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # the opening fence's line, counted from 1
    lang: str
    text: str
    before: str  # the last line of prose above it

    def __str__(self) -> str:
        return f"{self.file.relative_to(PROJECT)}:{self.line}"


def blocks(file: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    found: list[Block] = []
    lines = file.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"```([\w-]*)\s*", lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        assert end is not None, f"{file.relative_to(PROJECT)}:{i + 1}: a fence that is never closed"
        before = next((line for line in reversed(lines[:i]) if line.strip()), "")
        found.append(Block(file, i + 1, opening[1], "\n".join(lines[i + 1 : end]) + "\n", before))
        i = end + 1
    return found


def prose(file: Path) -> str:
    """The file without its fenced blocks (each block's lines left empty, so lines still count)."""
    lines = file.read_text().splitlines()
    for block in blocks(file):
        for k in range(block.line - 1, block.line + block.text.count("\n") + 1):
            lines[k] = ""
    return "\n".join(lines)


def all_blocks(*langs: str) -> list[Block]:
    return [b for file in DOCS for b in blocks(file) if b.lang in langs]


# --- TOML: recipes and pkgrun.toml ---------------------------------------------------------------


def merged(base: Mapping[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    """``fragment`` over ``base``: tables merge, anything else is the fragment's."""
    out = dict(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def whole_recipe(block: Block) -> str | None:
    """The recipe file a block is shown as (`recipes/NAME/recipe.toml`: above it), if any."""
    named = re.fullmatch(r"`(recipes/[^/`]+/recipe\.toml)`:", block.before.strip())
    return named[1] if named else None


def is_configuration(block: Block, data: Mapping[str, Any]) -> bool:
    marked = block.text.lstrip().startswith("# pkgrun.toml") or block.before.rstrip().endswith(
        "`pkgrun.toml`:"
    )
    return marked or (bool(data) and set(data) <= CONFIG_TABLES)


def recipe_problems(block: Block, data: Mapping[str, Any]) -> list[str]:
    shown_as = whole_recipe(block)
    if shown_as:
        file, recipe = Path(shown_as), dict(data)
    else:
        base = MINIMAL_RECIPE
        if {"url", "pypi"} & set(data.get("source", {})):  # the fragment's own source replaces it
            base = {**base, "source": {"sha256": base["source"]["sha256"]}}
        recipe = merged(base, data)
        file = Path(recipe["package"]["name"]) / "recipe.toml"
    _, problems = validate_recipe(recipe, file)
    return [f"{block}: {p.field}: {p.message}" for p in problems]


def configuration_problems(block: Block, tmp_path: Path) -> list[str]:
    file = tmp_path / f"line{block.line}" / "pkgrun.toml"
    file.parent.mkdir(parents=True)
    file.write_text(block.text)
    try:
        load_config(file)
    except ProblemsError as exc:
        return [f"{block}: {p.field}: {p.message}" for p in exc.problems]
    return []


def test_every_block_is_of_a_language_these_tests_know() -> None:
    langs = {(str(b), b.lang) for file in DOCS for b in blocks(file)}
    assert {lang for _, lang in langs} >= {"toml", "console", "sh"}
    assert [where for where, lang in sorted(langs) if lang not in KNOWN] == []


def test_toml_blocks_parse() -> None:
    found = all_blocks("toml")
    assert found
    wrong = []
    for block in found:
        try:
            tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            wrong.append(f"{block}: {exc}")
    assert wrong == []


def test_toml_blocks_are_recipes_or_configurations_pkgrun_accepts(tmp_path: Path) -> None:
    """A recipe shown whole is validated as it stands; a fragment (its tables, [package] to
    [autodeps]) merged into a minimal recipe; a pkgrun.toml loaded by pkgrun's own loader."""
    wrong: list[str] = []
    kinds = {"recipe": 0, "configuration": 0}
    for block in all_blocks("toml"):
        data = tomllib.loads(block.text)
        if is_configuration(block, data):
            kinds["configuration"] += 1
            wrong += configuration_problems(block, tmp_path)
        elif data and set(data) <= RECIPE_TABLES:
            kinds["recipe"] += 1
            wrong += recipe_problems(block, data)
        else:
            wrong.append(f"{block}: neither a recipe nor a pkgrun.toml: tables {sorted(data)}")
    assert all(kinds.values()), kinds
    assert wrong == []


def shown_files(file: Path) -> dict[str, str]:
    """The files a page shows by name: a line `recipes/...`:, then the file in a fenced block."""
    return {
        b.before.strip()[1:-2]: b.text
        for b in blocks(file)
        if re.fullmatch(r"`recipes/[^`]+`:", b.before.strip())
    }


def test_recipe_directories_shown_load_as_pkgrun_check_loads_them(tmp_path: Path) -> None:
    """The files a page shows, written out, are recipes `pkgrun check` accepts: every file they
    name present, hooks through `sh -n`, build scripts through `bash -n`, shellcheck quiet."""
    pages = {file: files for file in DOCS if (files := shown_files(file))}
    assert pages
    for file, files in pages.items():
        project = tmp_path / file.stem
        for name, text in files.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        try:
            loaded = load_recipes(project / "recipes", cache_dir=tmp_path / "cache")
        except ProblemsError as exc:
            pytest.fail(f"{file.relative_to(PROJECT)}: " + "; ".join(map(str, exc.problems)))
        assert {r.name for r in loaded} == {name.split("/")[1] for name in files}
        assert [str(w) for r in loaded for w in r.warnings] == []


# --- shell and command lines ------------------------------------------------------------------------


def test_shell_blocks_pass_bash_n() -> None:
    found = all_blocks("sh", "bash")
    assert found
    wrong = []
    for block in found:
        done = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        if done.returncode != 0:
            wrong.append(f"{block}: {done.stderr.strip()}")
    assert wrong == []


def command_lines(block: Block) -> Iterator[str]:
    """The lines a block gives a shell: in a console block those after a prompt (`$ `, or `# `
    as root) or starting with `pkgrun`, the rest being output; in a script every line. A line
    ending in a backslash goes on in the next."""
    text = block.text.replace("\\\n", " ")
    for line in text.splitlines():
        if block.lang != "console":
            yield line
        elif line.startswith(("$ ", "# ")):
            yield line[2:]
        elif line.startswith("pkgrun "):
            yield line


def simple_commands(line: str, variables: Mapping[str, str]) -> Iterator[list[str]]:
    """Each simple command of a shell line, as words: split at ; && || | &, cut at a
    redirection, comments and leading assignments dropped, $NAME read from ``variables``."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    cut = False
    for token in [*lexer, ";"]:
        if token in (";", "&&", "||", "|", "&", "(", ")"):
            while words and re.fullmatch(r"\w+=.*", words[0]):
                words.pop(0)
            if words:
                yield words
            words, cut = [], False
        elif set(token) <= set("<>&|"):
            cut = True  # a redirection: what follows is its target, not an argument
        elif not cut:
            words.append(
                re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), token),
            )


def assignments(file: Path) -> dict[str, str]:
    """The shell variables a page sets in its console blocks: a line of assignments alone
    (`$ TARGET=el9`, `$ export PKGRUN_MIRROR=DIR`)."""
    found: dict[str, str] = {}
    for block in blocks(file):
        if block.lang == "console":
            for line in command_lines(block):
                words = shlex.split(line, comments=True)
                words = words[1:] if words[:1] == ["export"] else words
                if words and all(re.fullmatch(r"\w+=.*", word) for word in words):
                    found.update(word.partition("=")[::2] for word in words)
    return found


def is_recipe_script(block: Block) -> bool:
    """A recipe's build script or hook: run in the source tree, where `make` is the source's."""
    return block.lang == "bash" or bool(re.fullmatch(r"`recipes/[^`]+`:", block.before.strip()))


def commands_shown(first_word: str, scripts: bool = True) -> list[tuple[Block, list[str]]]:
    """Each command starting with ``first_word`` in the pages' console and shell blocks
    (``scripts``: in the recipes' scripts too)."""
    found = []
    for file in DOCS:
        variables = assignments(file)
        for block in blocks(file):
            if block.lang in ("console", "sh", "bash") and (scripts or not is_recipe_script(block)):
                for line in command_lines(block):
                    for words in simple_commands(line, variables):
                        words = words[1:] if words[0] == "sudo" and len(words) > 1 else words
                        if words[0] == first_word or words[0].endswith(f"/{first_word}"):
                            found.append((block, [first_word, *words[1:]]))
    return found


def parse_error(argv: list[str]) -> str | None:
    """What pkgrun's parser says of ``argv`` (after `pkgrun RECIPE` is read as `pkgrun build
    RECIPE`, as main does), None when it parses. Nothing is run."""
    helped = [word for word in argv if word not in ("--help", "-h")]
    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
        try:
            if helped != argv:  # --help ends the parse: the options before and after it still count
                _, unknown = build_parser().parse_known_args(_expand_shorthand(helped))
                return f"unrecognized arguments: {' '.join(unknown)}" if unknown else None
            args = build_parser().parse_args(_expand_shorthand(argv))
        except SystemExit as exc:
            if exc.code == 0:  # -V prints the version
                return None
            error = (said.getvalue().strip().splitlines() or [f"exit status {exc.code}"])[-1]
            if helped != argv and "the following arguments are required" in error:
                return None  # `pkgrun build --help`: no recipe needed to ask
            return error
    assert isinstance(args, argparse.Namespace) and args.command
    return None


def test_every_pkgrun_command_shown_parses() -> None:
    shown = commands_shown("pkgrun")
    assert len(shown) > 20, shown
    wrong = [
        f"{block}: {shlex.join(words)}: {error}"
        for block, words in shown
        if (error := parse_error(words[1:])) is not None
    ]
    assert wrong == []


def test_every_pkgrun_command_named_in_the_prose_parses() -> None:
    """`pkgrun plan php --version 7.1.8` in a sentence: its options exist; a command named alone
    (`pkgrun rebuild`) is a mention and may leave out what it needs."""
    shown = []
    for file in DOCS:
        for line, text in enumerate(prose(file).splitlines(), 1):
            for span in re.findall(r"`(pkgrun [^`]*)`", text):
                if not re.search(r"[A-Z]{2,}|\.\.\.|[|\[\]<]", span):  # `pkgrun RECIPE...`: a pattern
                    shown.append((f"{file.relative_to(PROJECT)}:{line}", shlex.split(span)))
    assert len(shown) > 10, shown
    wrong = [
        f"{where}: {shlex.join(words)}: {error}"
        for where, words in shown
        if (error := mention_error(words[1:]))
    ]
    assert wrong == []


def mention_error(argv: list[str]) -> str | None:
    """parse_error of a command named in a sentence: what it needs and leaves out (`pkgrun build
    --no-publish`: the recipe) is filled in with a placeholder, so that its options still count."""
    error = parse_error(argv)
    while error and "arguments are required" in error and len(argv) < 8:
        argv = [*argv, "x"]
        error = parse_error(argv)
    return None if error and "arguments are required" in error else error


def makefile_targets() -> set[str]:
    text = (PROJECT / "Makefile").read_text()
    found: set[str] = set()
    for line in text.splitlines():
        rule = re.match(r"([^\s:=#][^:=#]*?)\s*:(?!=)", line)
        if rule and not line.startswith("\t"):
            found.update(rule[1].split())
    return found


def make_targets(words: list[str]) -> list[str]:
    """The targets of a make command: neither options nor VARIABLE=value."""
    return [w for w in words[1:] if not w.startswith("-") and "=" not in w]


def test_every_make_target_shown_is_in_the_makefile() -> None:
    targets = makefile_targets()
    assert {"rpms", "test"} <= targets
    shown = [(str(block), words) for block, words in commands_shown("make", scripts=False)]
    for file in DOCS:  # and in the prose: `make rpms TARGET=local`
        for line, text in enumerate(prose(file).splitlines(), 1):
            for span in re.findall(r"`(make(?: [^`]*)?)`", text):
                shown.append((f"{file.relative_to(PROJECT)}:{line}", span.split()))
    assert len(shown) > 5, shown
    wrong = [f"{where}: make {t}" for where, words in shown for t in make_targets(words) if t not in targets]
    assert wrong == []


def test_ini_blocks_are_yum_repo_files() -> None:
    found = all_blocks("ini")
    assert found
    wrong = []
    for block in found:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(block.text)
        except configparser.Error as exc:
            wrong.append(f"{block}: {exc}")
            continue
        for section in parser.sections():
            missing = {"name", "baseurl", "enabled", "gpgcheck"} - set(parser[section])
            if missing:
                wrong.append(f"{block}: [{section}] lacks {sorted(missing)}")
    assert wrong == []


# --- links -------------------------------------------------------------------------------------------


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(file: Path) -> set[str]:
    found: set[str] = set()
    for line in prose(file).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            name = anchor(heading[1])
            n = 0
            while (name if n == 0 else f"{name}-{n}") in found:
                n += 1
            found.add(name if n == 0 else f"{name}-{n}")
    return found


def links(file: Path) -> Iterator[tuple[int, str]]:
    """(line, target) of each Markdown link outside code."""
    for number, line in enumerate(prose(file).splitlines(), 1):
        text = re.sub(r"`[^`]*`", "code", line)
        for target in re.findall(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]+)\)", text):
            yield number, target


def test_every_relative_link_leads_to_a_file_and_a_heading() -> None:
    checked = 0
    wrong = []
    for file in DOCS:
        for line, target in links(file):
            if re.match(r"[a-z]+:", target):
                continue
            checked += 1
            path, _, fragment = target.partition("#")
            linked = (file.parent / path).resolve() if path else file
            where = f"{file.relative_to(PROJECT)}:{line}: {target}"
            if not linked.exists():
                wrong.append(f"{where}: no such file")
            elif fragment and fragment not in anchors(linked):
                wrong.append(f"{where}: no such heading in {linked.relative_to(PROJECT)}")
    assert checked > 20
    assert wrong == []


def test_the_readme_links_every_docs_page() -> None:
    linked = {(PROJECT / target.partition("#")[0]).resolve() for _, target in links(PROJECT / "README.md")}
    assert [page.name for page in DOCS[1:] if page not in linked] == []
