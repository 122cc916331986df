"""The package layout is the architecture: each subpackage imports only the layers below it, so
the repository never reaches plans or builds, and nothing below the command line prints."""

from __future__ import annotations

import ast
from pathlib import Path

import pkgrun

SRC = Path(pkgrun.__file__).parent
BASE = "base"  # the modules at the top: errors, processes, numerals, progress, targets, tar files
# what each layer may import, besides itself and the base
ALLOWED: dict[str, set[str]] = {
    BASE: set(),
    "rpm": set(),
    "recipe": set(),
    "engine": set(),
    "trust": {"rpm"},
    "config": {"recipe"},
    "repo": {"rpm", "trust"},
    "build": {"rpm", "recipe", "trust", "engine", "repo"},
    "install": {"rpm", "recipe", "trust", "engine", "repo", "build"},
    "pipeline": {"rpm", "recipe", "trust", "engine", "repo", "build", "install", "config"},
    "cli": {"rpm", "recipe", "trust", "engine", "repo", "build", "install", "config", "pipeline"},
}


def layer(module: str) -> str:
    """``pkgrun.repo.data`` -> ``repo``; a module at the top -> the base."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (SRC / parts[1]).is_dir() else BASE


def imported(path: Path) -> set[str]:
    """Every pkgrun module a file imports, at the top, in functions or for type checking, and
    relative imports resolved (``from ..repo import data`` in pipeline/ is pkgrun.repo.data);
    importlib's are refused outright (test_no_module_is_imported_by_name)."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            if base.split(".")[0] != "pkgrun":
                continue
            if base == "pkgrun" or (SRC / Path(*base.split(".")[1:])).is_dir():
                names.update(f"{base}.{alias.name}" for alias in node.names)
            else:
                names.add(base)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "pkgrun")
    return names


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def test_every_subpackage_is_a_known_layer() -> None:
    assert {layer(m) for m in modules()} - {"pkgrun"} <= set(ALLOWED)
    assert {layer(m) for m in modules() if m != "pkgrun"} == set(ALLOWED)


def test_no_import_reaches_up_or_sideways() -> None:
    wrong = []
    for module, path in sorted(modules().items()):
        if module in ("pkgrun", "pkgrun.__main__"):
            continue
        own = layer(module)
        for name in sorted(imported(path)):
            target = layer(name)
            if target in (own, BASE) or target in ALLOWED[own]:
                continue
            wrong.append(f"{module} ({own}) imports {name} ({target})")
    assert wrong == []


def test_the_base_imports_no_subpackage() -> None:
    base = [m for m in modules() if layer(m) == BASE and m not in ("pkgrun", "pkgrun.__main__")]
    assert base, "the base modules were not found"
    for module in base:
        assert {layer(n) for n in imported(modules()[module])} <= {BASE}, module


# what writes to the terminal: rich (its print, its Console), the standard streams, file
# descriptors 1 and 2
_TERMINAL_MODULES = ("rich",)
_STREAMS = ("stdout", "stderr", "__stdout__", "__stderr__")
_LOGGERS = ("log", "logger", "logging", "traceback")  # what a module's logger is called here
_LOUD_LOGS = ("exception", "warning", "error", "critical", "print_exc", "print_exception")


def terminal_writes(tree: ast.AST) -> list[str]:
    """How a module could write to the terminal, each as it is spelled there."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append("print()")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in _TERMINAL_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _TERMINAL_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module in ("sys", "os"):
            streams = [a.name for a in node.names if a.name in (*_STREAMS, "write")]
            found += [f"from {node.module} import {name}" for name in streams]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in _LOGGERS and node.attr in _LOUD_LOGS:  # logging's stderr handler
                found.append(f"{node.value.id}.{node.attr}")
            elif node.value.id == "sys" and node.attr in _STREAMS:
                found.append(f"sys.{node.attr}")
            elif node.value.id == "os" and node.attr == "write":
                found.append("os.write")
    return found


CONSOLE = "pkgrun.cli.console"  # the one module that prints, with rich
# besides: the entry point quiets stdout once its reader went away (a closed pipe: Python's exit
# flush would write a second error)
WRITERS = {"pkgrun.cli.main": {"sys.stdout"}}


def test_only_the_console_writes_to_the_terminal() -> None:
    """No print() outside console.py (which prints through rich), and nothing else imports rich
    or touches the standard streams or os.write: progress reaches the terminal through the
    reporter the CLI hands down."""
    writing = {}
    for module, path in modules().items():
        found = [f for f in terminal_writes(ast.parse(path.read_text())) if f not in WRITERS.get(module, ())]
        if found and module != CONSOLE:
            writing[module] = found
    assert writing == {}


def test_the_terminal_check_sees_every_spelling() -> None:
    """The check above, on the ways a module could write to the terminal."""
    spellings = {
        "print('x')": ["print()"],
        "import rich": ["import rich"],
        "from rich import print as p": ["from rich import ..."],
        "from rich.console import Console": ["from rich.console import ..."],
        "from sys import stdout": ["from sys import stdout"],
        "from os import write": ["from os import write"],
        "import sys\nsys.stderr.write('x')": ["sys.stderr"],
        "import sys\nsys.__stdout__.write('x')": ["sys.__stdout__"],
        "import os\nos.write(1, b'x')": ["os.write"],
        "import os\nos.path.join('a')": [],
        "from sys import argv": [],
        "log.exception('x')": ["log.exception"],
        "traceback.print_exc()": ["traceback.print_exc"],
        "outcome.error = 'x'": [],
        "log.debug('x', exc_info=True)": [],
    }
    assert {code: terminal_writes(ast.parse(code)) for code in spellings} == spellings


def test_no_module_is_imported_by_name() -> None:
    """importlib.import_module would hide an import from the layers' check."""
    found = [
        module
        for module, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in ("import_module", "__import__")
    ]
    assert found == []
