"""nfpm's configuration from a recipe and the staged files, as a pure function.

nfpm packages where fpm is not available (the `local` target has no Ruby gems). It is given
everything fpm would derive itself, so that both make the same RPM: name, epoch, version,
release, arch, Requires, scriptlets, the file list with modes and root ownership,
%config(noreplace) files, owned directories, gzip payload. nfpm reads YAML, and JSON is YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pkgrun.build.autodeps import Generated
from pkgrun.build.staging import Entry
from pkgrun.recipe.model import Recipe
from pkgrun.targets import Target

# fpm's scriptlet names -> nfpm's
SCRIPT_KEYS = {
    "before-install": "preinstall",
    "after-install": "postinstall",
    "before-remove": "preremove",
    "after-remove": "postremove",
}


def nfpm_base(
    recipe: Recipe, version: str, release: str, target: Target, requires: Sequence[str]
) -> dict[str, Any]:
    """Everything nfpm is given but the file list and the scripts, which the build makes."""
    pkg = recipe.package
    return {
        "name": pkg.name,
        "arch": pkg.arch,
        "platform": "linux",
        "epoch": str(pkg.epoch),
        "version": version,
        "version_schema": "none",
        "release": release,
        "maintainer": pkg.maintainer,
        "description": pkg.description.strip() or pkg.summary,
        "vendor": pkg.vendor,
        "homepage": pkg.url,
        "license": pkg.license,
        "depends": list(requires),
        "rpm": {
            "summary": pkg.summary,
            "compression": target.payload_compression,
            "packager": pkg.maintainer,
        },
    }


def with_generated(base: Mapping[str, Any], generated: Generated) -> dict[str, Any]:
    """``base`` with the generated Requires after the recipe's and the generated Provides."""
    depends = list(dict.fromkeys([*base.get("depends", []), *generated.requires]))
    out = {**base, "depends": depends}
    if generated.provides:
        out["provides"] = list(generated.provides)
    return out


def nfpm_config(
    base: Mapping[str, Any],
    config: Sequence[str],
    entries: Sequence[Entry],
    owned_dirs: Sequence[str],
    *,
    staging: str,
    scripts: Mapping[str, str],
) -> dict[str, Any]:
    """``base`` (nfpm_base) with the staged files and the scripts. ``config``: [files] config;
    ``scripts``: nfpm script key -> path of the script as nfpm will see it."""
    marked = config_files(config, entries)
    owned = set(owned_dirs)
    contents: list[dict[str, Any]] = []
    for entry in entries:
        info = {"mode": entry.mode, "owner": "root", "group": "root"}
        if entry.kind == "d":
            if entry.path in owned:
                contents.append({"dst": entry.path, "type": "dir", "file_info": info})
        elif entry.kind == "l":
            # rpm shows a symlink as lrwxrwxrwx; nfpm needs the mode said
            contents.append({"src": entry.link, "dst": entry.path, "type": "symlink", "file_info": info})
        elif entry.kind == "f":
            kind = "config|noreplace" if entry.path in marked else ""
            contents.append({"src": staging + entry.path, "dst": entry.path, "type": kind, "file_info": info})
    return {**base, "contents": contents, "scripts": dict(scripts)}


def config_files(config: Sequence[str], entries: Sequence[Entry]) -> set[str]:
    """The files marked %config: a listed directory marks every file under it, as with fpm."""
    files = {e.path for e in entries if e.kind == "f"}
    out = set()
    for path in config:
        out |= {f for f in files if f == path or f.startswith(path.rstrip("/") + "/")}
    return out


def fpm_style_scripts(hooks: Mapping[str, str]) -> dict[str, str]:
    """The scriptlets fpm makes from the hooks' texts, keyed by nfpm's names.

    Without upgrade hooks fpm uses each hook as it is. With one, it wraps the install and
    upgrade hooks in shell functions chosen by RPM's argument ($1: 1 install, 2+ upgrade) and
    runs the remove hooks only on erase ($1 = 0); this follows fpm's rpm template.
    """
    if "before-upgrade" not in hooks and "after-upgrade" not in hooks:
        return {SCRIPT_KEYS[name]: text for name, text in hooks.items()}
    out = {}
    for when in ("before", "after"):
        install, upgrade = hooks.get(f"{when}-install"), hooks.get(f"{when}-upgrade")
        if install is None and upgrade is None:
            continue
        out[SCRIPT_KEYS[f"{when}-install"]] = (
            f"upgrade() {{\n    :\n{_body(upgrade)}}}\n_install() {{\n    :\n{_body(install)}}}\n"
            f'if [ "${{1}}" -eq 1 ]\nthen\n    # "{when} install" goes here\n    _install\n'
            f'elif [ "${{1}}" -gt 1 ]\nthen\n    # "{when} upgrade" goes here\n    upgrade\nfi\n'
        )
    for name in ("before-remove", "after-remove"):
        if name in hooks:
            out[SCRIPT_KEYS[name]] = f'if [ "${{1}}" -eq 0 ]\nthen\n    :\n{hooks[name]}\nfi\n'
    return out


def _body(text: str | None) -> str:
    return "" if text is None else text + "\n"
