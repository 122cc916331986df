#!/usr/bin/env bash
# Make the `local` target's base image: a Debian 12 minbase rootfs from debootstrap, imported into
# podman or docker as localhost/pkgrun-local:bookworm. pkgrun does the same by itself the first
# time the target is used; run this once as root when you build as another user.
# Usage: sudo scripts/make-local-image.sh [podman|docker]
set -euo pipefail
engine=${1:-$(command -v podman >/dev/null && echo podman || echo docker)}
tag=localhost/pkgrun-local:bookworm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/rootfs"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$engine" import "$work/rootfs.tar" "$tag"
echo "made $tag with $engine"
