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


def test_only_the_command_line_writes_to_the_terminal() -> None:
    """No print() below cli/, and rich's Console is made only there (console.py and the entry
    point that hands it over)."""
    writing = set()
    for module, path in modules().items():
        below_cli = layer(module) != "cli"
        for node in ast.walk(ast.parse(path.read_text())):
            called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else ""
            if called == "print" or (called == "Console" and below_cli):
                writing.add(module)
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "stderr")
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
                and below_cli
            ):
                writing.add(module)
    assert writing == set()


def test_no_module_is_imported_by_name() -> None:
    """importlib.import_module would hide an import from the layers' check."""
    found = [
        module
        for module, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in ("import_module", "__import__")
    ]
    assert found == []
