#!/usr/bin/env bash
# Check that the system tools pkgrun's make targets need are present; install the missing ones
# with apt-get where this machine allows it (root on Debian/Ubuntu), otherwise say what to install.
# Usage: scripts/check-system.sh TOOL[=DEBIAN_PACKAGE[,PACKAGE...]]...
# Does nothing (and prints nothing) when every tool is already there.
set -euo pipefail

missing_tools=()
missing_packages=()
for spec in "$@"; do
    tool=${spec%%=*}
    package=${spec#*=}
    [ "$package" = "$spec" ] && package=$tool
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing_tools+=("$tool")
        IFS=, read -r -a packages <<<"$package"
        missing_packages+=("${packages[@]}")
    fi
done
[ ${#missing_tools[@]} -eq 0 ] && exit 0

echo "pkgrun: missing system tools: ${missing_tools[*]}" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "pkgrun: installing Debian packages: ${missing_packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
    for tool in "${missing_tools[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "pkgrun: $tool is still missing after installing" >&2; exit 1; }
    done
else
    echo "pkgrun: install them with your package manager (Debian/Ubuntu: sudo apt-get install ${missing_packages[*]})," >&2
    echo "        then run make again." >&2
    exit 1
fi
