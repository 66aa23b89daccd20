#!/usr/bin/env bash
# Builds apogee and runs the platform with its embedded defaults: SQLite and
# blobs in the data folder, one process, http://localhost:8080.
# Extra arguments go to `apogee server` (e.g. --data ./data --listen :9000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
# The build sandbox, git for sources, Node.js for JavaScript builds.
apt_install ca-certificates git bubblewrap slirp4netns nftables
ensure_go
ensure_node
mkdir -p bin
go build -o bin/apogee ./cmd/apogee
if [ -w /usr/local/bin ]; then install -m 0755 bin/apogee /usr/local/bin/apogee; fi
exec bin/apogee server "$@"
