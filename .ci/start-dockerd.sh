#!/usr/bin/env bash
# Start a private dockerd for the tests: its own socket, data and exec roots, no iptables and no
# bridge (containers run with --network none; image builds use the host's network).
# Usage: source .ci/start-dockerd.sh DIR   -> exports DOCKER_HOST; stop with: kill "$(cat DIR/docker.pid)"
set -euo pipefail
dir=$1
mkdir -p "$dir"
if [ -S "$dir/docker.sock" ] && DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1; then
    export DOCKER_HOST="unix://$dir/docker.sock"
    return 0 2>/dev/null || exit 0
fi
dockerd --iptables=false --bridge=none \
    --host "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" >"$dir/dockerd.log" 2>&1 &
for _ in $(seq 60); do
    if DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1; then
        export DOCKER_HOST="unix://$dir/docker.sock"
        return 0 2>/dev/null || exit 0
    fi
    sleep 1
done
echo "dockerd did not start; its log:" >&2
tail -20 "$dir/dockerd.log" >&2
exit 1
