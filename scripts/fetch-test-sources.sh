#!/usr/bin/env bash
# Put the upstream tarballs the integration tests build into DIR, under their upstream names,
# from Debian's source archive (Debian ships them byte for byte as *.orig.tar.*). pkgrun reads
# DIR as a mirror (--mirror DIR). Files already there are kept.
# Usage: scripts/fetch-test-sources.sh DIR
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"

# Debian source package / version (its suite) / orig tarball -> upstream file name
sources=(
    "nginx 1.22.1 nginx_1.22.1.orig.tar.gz nginx-1.22.1.tar.gz"
    "php8.2 8.2.32 php8.2_8.2.32.orig.tar.xz php-8.2.32.tar.xz"
)
missing=()
for line in "${sources[@]}"; do
    read -r package _ orig upstream <<<"$line"
    [ -f "$upstream" ] || missing+=("$line")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# apt-get source needs deb-src entries: add a copy of each deb822 entry with Types: deb-src.
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        sed 's/^Types: deb$/Types: deb-src/' "$f" > "/etc/apt/sources.list.d/pkgrun-src-$(basename "$f")"
    done
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/pkgrun-src.list
    fi
fi
apt-get update -qq
for line in "${missing[@]}"; do
    read -r package version orig upstream <<<"$line"
    # the exact version from the main suite: a security update may have moved past it
    # (awk reads to the end: an early exit would stop apt-cache with SIGPIPE)
    full=$(apt-cache showsrc "$package" | awk -v v="$version" '$1 == "Version:" && index($2, v "-") == 1 && !found {print $2; found = 1}')
    [ -n "$full" ] || { echo "no Debian source of $package $version" >&2; exit 1; }
    apt-get source --download-only -qq "$package=$full" >/dev/null 2>&1 || apt-get source --download-only "$package=$full"
    mv "$orig" "$upstream"
    rm -f "${package}_${version}"*
done
ls -l "$dir"
