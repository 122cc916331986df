"""What a recipe's ``[fpm] args`` may pass to fpm (pure).

fpm takes options in several spellings: ``--name X``, ``--name=X``, ``-n X``, ``-nX`` and
switches combined (``-fe``); its parser (clamp) takes no abbreviations, so a prefix of an option
is refused as unknown. Every spelling is resolved to the option it means, and the args are then
checked against three lists:

- options pkgrun derives from the recipe (``-n``, ``--iteration``, ``-d``, hooks, metadata...):
  the recipe's own field is the place for them;
- options that would bypass a check pkgrun makes (scripts that skip ``sh -n``, file ownership
  overrides that break "files belong to root", options that read more options or files from
  disk, install-time macro expansion) or that contradict what pkgrun decides (signing,
  reproducibility settings);
- options of other package types, and words that are not options at all (a stray positional
  argument would add files to the package).

Only the remaining fpm options for ``-s dir -t rpm`` are passed through. Every bad element is
reported, not only the first.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# fpm 1.17's options for -s dir -t rpm that take a value; the others are switches.
_VALUE_OPTIONS = frozenset(
    {
        "--output-type", "--input-type", "--chdir", "--prefix", "--package", "--name", "--log",
        "--version", "--iteration", "--epoch", "--license", "--vendor", "--category", "--depends",
        "--provides", "--conflicts", "--replaces", "--config-files", "--directories",
        "--architecture", "--maintainer", "--package-name-suffix", "--exclude", "--exclude-file",
        "--description", "--url", "--inputs", "--post-install", "--pre-install", "--post-uninstall",
        "--pre-uninstall", "--after-install", "--before-install", "--after-remove", "--before-remove",
        "--after-upgrade", "--before-upgrade", "--template-value", "--workdir",
        "--source-date-epoch-default", "--fpm-options-file", "--rpm-user", "--rpm-group",
        "--rpm-defattrfile", "--rpm-defattrdir", "--rpm-rpmbuild-define", "--rpm-dist", "--rpm-digest",
        "--rpm-compression-level", "--rpm-compression", "--rpm-os", "--rpm-changelog", "--rpm-summary",
        "--rpm-auto-add-exclude-directories", "--rpm-attr", "--rpm-init", "--rpm-filter-from-provides",
        "--rpm-filter-from-requires", "--rpm-tag", "--rpm-verifyscript", "--rpm-pretrans",
        "--rpm-posttrans", "--rpm-trigger-before-install", "--rpm-trigger-after-install",
        "--rpm-trigger-before-uninstall", "--rpm-trigger-after-target-uninstall",
    }
)  # fmt: skip
_SWITCHES = frozenset(
    {
        "--force", "--verbose", "--debug", "--debug-workspace", "--no-depends", "--no-auto-depends",
        "--edit", "--template-scripts", "--source-date-epoch-from-changelog", "--help",
        # --[no-]X: both spellings
        "--rpm-use-file-permissions", "--rpm-sign", "--rpm-auto-add-directories", "--rpm-autoreqprov",
        "--rpm-autoreq", "--rpm-autoprov", "--rpm-ignore-iteration-in-dependencies",
        "--rpm-verbatim-gem-dependencies", "--rpm-macro-expansion", "--rpm-old-perl-dependency-name",
    }
)  # fmt: skip
_NEGATABLE = frozenset(s for s in _SWITCHES if s.startswith("--rpm-"))
SHORT = {
    "-t": "--output-type", "-s": "--input-type", "-C": "--chdir", "-p": "--package", "-f": "--force",
    "-n": "--name", "-v": "--version", "-d": "--depends", "-a": "--architecture", "-m": "--maintainer",
    "-S": "--package-name-suffix", "-e": "--edit", "-x": "--exclude", "-h": "--help",
}  # fmt: skip
# Prefixes of options of fpm's other package types: never meaningful for -t rpm.
_OTHER_TYPES = (
    "--gem-", "--cpan-", "--deb-", "--npm-", "--pear-", "--python-", "--osxpkg-", "--solaris-",
    "--p5p-", "--freebsd-", "--snap-", "--pacman-", "--pleaserun-", "--virtualenv-",
)  # fmt: skip

# Set by pkgrun from the recipe: the field to use instead.
MANAGED = {
    "--output-type": "pkgrun makes RPMs",
    "--input-type": "pkgrun packages a directory",
    "--force": "it always overwrites",
    "--name": "[package] name",
    "--version": "[package] version or --version",
    "--epoch": "[package] epoch",
    "--iteration": "[package] iteration",
    "--architecture": "[package] arch",
    "--chdir": "pkgrun's staging directory",
    "--package": "pkgrun's output directory",
    "--workdir": "pkgrun's work directory",
    "--depends": "[requires]",
    "--no-depends": "[requires]",
    "--config-files": "[files] config",
    "--directories": "[files] directories",
    "--prefix": "[files] paths (the build installs where the files belong)",
    "--package-name-suffix": "[package] name",
    "--before-install": "[hooks] before-install",
    "--after-install": "[hooks] after-install",
    "--before-remove": "[hooks] before-remove",
    "--after-remove": "[hooks] after-remove",
    "--before-upgrade": "[hooks] before-upgrade",
    "--after-upgrade": "[hooks] after-upgrade",
    "--pre-install": "[hooks] before-install",
    "--post-install": "[hooks] after-install",
    "--pre-uninstall": "[hooks] before-remove",
    "--post-uninstall": "[hooks] after-remove",
    "--rpm-summary": "[package] summary",
    "--description": "[package] description",
    "--license": "[package] license",
    "--url": "[package] url",
    "--vendor": "[package] vendor",
    "--maintainer": "[package] maintainer",
    "--rpm-compression": "the target's payload compression",
    "--rpm-digest": "sha256 file digests",
    "--rpm-dist": "the target's dist tag, which pkgrun puts into the release",
    "--source-date-epoch-default": "pkgrun's reproducible-build settings",
    "--source-date-epoch-from-changelog": "pkgrun's reproducible-build settings",
    "--rpm-rpmbuild-define": "pkgrun's reproducible-build settings",
    "--rpm-sign": "it signs every package it publishes",
    "--rpm-tag": "[requires] (pkgrun writes Requires and Requires(pre) itself)",
}
# Would bypass a check pkgrun makes, or let fpm read what pkgrun does not see.
BYPASSES = {
    "--rpm-pretrans": "a scriptlet pkgrun would not check with sh -n; use [hooks]",
    "--rpm-posttrans": "a scriptlet pkgrun would not check with sh -n; use [hooks]",
    "--rpm-verifyscript": "a scriptlet pkgrun would not check with sh -n",
    "--rpm-trigger-before-install": "a trigger scriptlet pkgrun would not check",
    "--rpm-trigger-after-install": "a trigger scriptlet pkgrun would not check",
    "--rpm-trigger-before-uninstall": "a trigger scriptlet pkgrun would not check",
    "--rpm-trigger-after-target-uninstall": "a trigger scriptlet pkgrun would not check",
    "--rpm-init": "an init script pkgrun would not check; add it with [files.add]",
    "--template-scripts": "it turns hooks into ERB templates, which sh -n cannot check",
    "--template-value": "it turns hooks into ERB templates, which sh -n cannot check",
    "--rpm-macro-expansion": "it expands rpm macros in hooks at install time, after sh -n",
    "--rpm-user": "files belong to root; set other owners in a hook",
    "--rpm-group": "files belong to root; set other owners in a hook",
    "--rpm-attr": "files belong to root; set other owners and modes in a hook",
    "--rpm-defattrfile": "files keep the modes the build gave them",
    "--rpm-defattrdir": "files keep the modes the build gave them",
    "--rpm-use-file-permissions": "files belong to root; set other owners in a hook",
    "--fpm-options-file": "it reads more options from a file, which pkgrun would not check",
    "--inputs": "it reads the file list from a file; [files] paths is the place",
    "--exclude-file": "it reads patterns from a file; pass --exclude PATTERN instead",
    "--rpm-changelog": "it reads a file pkgrun does not hash or check",
    "--edit": "it opens an editor in the middle of a build",
    "--debug-workspace": "it leaves the workspace behind",
    "--help": "it prints help instead of packaging",
}


@dataclass(frozen=True)
class BadArg:
    index: int
    message: str


def check_fpm_args(args: list[str]) -> list[BadArg]:
    """Every element of ``args`` that is not an fpm option pkgrun may pass through, with why."""
    bad: list[BadArg] = []
    i = 0
    while i < len(args):
        arg = args[i]
        options, problem = _resolve(arg)
        if problem:
            bad.append(BadArg(i, problem))
            i += 1
            continue
        for option, _ in options:
            if reason := MANAGED.get(option):
                source = f"from {reason}" if reason.startswith("[") else f"({reason})"
                bad.append(BadArg(i, f"{_as_written(arg, option)} is set by pkgrun {source}: remove it here"))
            elif reason := BYPASSES.get(option.replace("--no-", "--", 1)):
                bad.append(BadArg(i, f"{_as_written(arg, option)} is not allowed: {reason}"))
        option, attached = options[-1]
        if option in _VALUE_OPTIONS and attached is None:
            if i + 1 >= len(args):
                bad.append(BadArg(i, f"{arg} needs a value"))
            elif args[i + 1].startswith("-"):
                bad.append(BadArg(i + 1, f"the value of {arg} must not start with '-': {args[i + 1]!r}"))
            i += 2
            continue
        if option not in _VALUE_OPTIONS and attached is not None:
            bad.append(BadArg(i, f"{option} takes no value"))
        i += 1
    return bad


def _resolve(arg: str) -> tuple[list[tuple[str, str | None]], str | None]:
    """The long options ``arg`` means, each with its attached value; or a problem."""
    if not arg.startswith("-") or arg == "-":
        return [], (
            f"{arg!r} is not an option: a positional argument would add files to the package "
            "([files] paths is the place for them)"
        )
    if arg == "--":
        return [], "'--' would end fpm's options here; pkgrun puts it before the packaged paths"
    if not arg.startswith("--"):
        # -n NAME, -nNAME, and switches combined as in -fe
        options: list[tuple[str, str | None]] = []
        letters = arg[1:]
        for j, letter in enumerate(letters):
            option = SHORT.get(f"-{letter}")
            if option is None:
                return [], f"-{letter}" + (
                    f" (in {arg})" if len(letters) > 1 else ""
                ) + " is not an fpm option"
            if option in _VALUE_OPTIONS:
                options.append((option, letters[j + 1 :] or None))
                break
            options.append((option, None))
        return options, None
    name, eq, value = arg.partition("=")
    attached = value if eq else None
    if name.startswith(_OTHER_TYPES):
        return [], f"{name} is an option of another package type than rpm"
    if name in _KNOWN:
        return [(name, attached)], None
    # fpm's parser (clamp) takes no abbreviations: a prefix of an option is an unknown option
    close = sorted(k for k in _KNOWN if k.startswith(name)) or difflib.get_close_matches(name, _KNOWN, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return [], f"{name} is not an fpm option for -t rpm{hint}"


_KNOWN = _VALUE_OPTIONS | _SWITCHES | {"--no-" + s[2:] for s in _NEGATABLE}


def _as_written(arg: str, option: str) -> str:
    written = arg.split("=", 1)[0]
    return written if written == option else f"{written} (that is {option})"
