"""From raw TOML data to Problems a person can act on: a scan of every key and string before any
model sees them (control characters, lengths, nesting), and pydantic's errors translated into
the file, the field path, what is wrong and what is allowed.

Used for recipes (recipe.py) and for pkgrun.toml (config.py); nothing here knows either schema.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from pkgrun.errors import Problem

# Longest string anywhere, unless a field is listed in ``long_fields``: PATH_MAX, which no
# installed path, URL or name needs to pass.
MAX_STRING = 4096
# Longest free text (a description, a test command): well under Linux's limit for one argv
# element (MAX_ARG_STRLEN, 128 KiB), which fpm's --description must fit.
MAX_TEXT = 32768
# Deeper than any schema of ours: refuse before recursion in a model or a message can blow up.
MAX_DEPTH = 16
MAX_ITEMS = 10000

# Pydantic prefixes messages of ValueErrors raised in validators with this; ours read better without.
_VALUE_ERROR_PREFIX = "Value error, "

_TYPE_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string (in quotes)",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "list_type": 'must be a list, e.g. ["a", "b"]',
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "too_short": "must not be empty",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
}


def scan(
    data: Mapping[str, Any],
    file: Path,
    *,
    multiline: Collection[str] = (),
    long_fields: Collection[str] = (),
) -> list[Problem]:
    """Problems in the raw data that no model should have to meet: control characters
    (terminal escape sequences included) in any key or string, strings longer than
    ``MAX_STRING`` (``MAX_TEXT`` for ``long_fields``), nesting deeper than ``MAX_DEPTH``.
    ``multiline``: fields (as their path with list indices dropped, "test.commands") whose
    text may hold newlines and tabs."""
    problems = []
    for loc, value in _walk(data):
        field = field_path(loc)
        if loc and len(loc) > MAX_DEPTH:
            problems.append(
                Problem(file, field_path(loc[:MAX_DEPTH]), f"nested deeper than {MAX_DEPTH} levels")
            )
            continue
        key = loc[-1] if loc else None
        if isinstance(key, str) and (bad := _control_characters(key, allow="")):
            problems.append(Problem(file, field, f"the key holds a control character ({bad})"))
        if isinstance(value, list) and len(value) > MAX_ITEMS:
            problems.append(Problem(file, field, f"more than {MAX_ITEMS} items"))
        if not isinstance(value, str):
            continue
        plain = _without_indices(loc)
        allow = "\n\t" if plain in multiline else ""
        if bad := _control_characters(value, allow):
            what = "a control character" if allow else "a control character or line break"
            problems.append(
                Problem(
                    file,
                    field,
                    f"holds {what} ({bad})",
                    "recipe values reach package headers, file names and terminals: write plain text",
                )
            )
        limit = MAX_TEXT if plain in long_fields else MAX_STRING
        if len(value.encode()) > limit:
            problems.append(Problem(file, field, f"is longer than {limit} bytes ({len(value.encode())})"))
    return problems


def _walk(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every (location, value) in nested tables and lists, without recursion (a hostile file
    may nest as deep as its parser allows)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(loc, value)]
    while stack:
        here, item = stack.pop()
        yield here, item
        if len(here) > MAX_DEPTH:
            continue
        if isinstance(item, Mapping):
            stack += [((*here, str(k)), v) for k, v in reversed(list(item.items()))]
        elif isinstance(item, list):
            stack += [((*here, i), v) for i, v in reversed(list(enumerate(item)))]


def _without_indices(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int))


def _control_characters(text: str, allow: str) -> str:
    """The first control character in ``text`` (not in ``allow``) as U+XXXX, or ""."""
    for char in text:
        if char not in allow and (unicodedata.category(char) in ("Cc", "Cs") or char in _INVISIBLE):
            return f"U+{ord(char):04X}"
    return ""


# Characters that change how text around them is shown: bidirectional overrides and isolates
# (the "trojan source" characters), which can make a path or command read as something else.
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def problems_from(exc: ValidationError, file: Path, root: type[BaseModel]) -> list[Problem]:
    """Pydantic's errors for ``root`` read from ``file``, as Problems a person can act on."""
    return [_problem(err, file, root) for err in exc.errors()]


def _problem(err: Mapping[str, Any], file: Path, root: type[BaseModel]) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], root)
        key = str(loc[-1])
        return Problem(
            file,
            field_path(loc),
            f"unknown key {key!r}{did_you_mean(key, allowed)}",
            f"allowed here: {', '.join(allowed)}" if allowed else None,
        )
    if kind == "missing":
        section = field_path(loc[:-1]) or "the top level"
        return Problem(
            file,
            field_path(loc),
            "is required",
            f"add {loc[-1]} under [{section}]" if loc[:-1] else f"add a [{loc[-1]}] table",
        )
    message = str(err["msg"]).removeprefix(_VALUE_ERROR_PREFIX)
    hint = None
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind].format(**err.get("ctx", {}))
        if "input" in err:
            message += f" (got {_show(err['input'])})"
        if examples := _examples(loc, root):  # what the field looks like written
            hint = f"for example: {key_text(str(loc[-1]))} = {examples[0]}"
    return Problem(file, field_path(loc), message, hint)


def _examples(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The examples the model's field at ``loc`` gives, as TOML (Field(examples=...))."""
    field = _field_at(loc, root) if loc else None
    return [str(e) for e in field.examples or []] if field is not None else []


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return "a table" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def field_path(loc: tuple[Any, ...]) -> str:
    """('source', 'sha256', '7.1.8') -> source.sha256."7.1.8"; list indices as [n]."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue  # pydantic marks an error in a dict key this way; the key itself is named
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + key_text(str(part))
    return out


def key_text(part: str) -> str:
    """A TOML key as written: bare when it can be, quoted (and escaped) otherwise."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", part):
        return part
    shown = part if len(part) <= 60 else part[:57] + "..."
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The keys the model at ``loc`` accepts, as written in TOML (aliases)."""
    model: Any = root
    if loc:
        field = _field_at(loc, root)
        model = _model_in(field.annotation) if field is not None else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _field_at(loc: tuple[Any, ...], root: type[BaseModel]) -> FieldInfo | None:
    """The model field at ``loc`` (keys as written in TOML: aliases), None where no model's is."""
    model: Any = root
    field = None
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        model = _model_in(field.annotation)
    return field


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``X | None`` or ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
