#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, starts a throw-away PostgreSQL and Redis on
# loopback, runs ctest (unit, store, service and integration tests), and stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
servers=$(mktemp -d /tmp/covtrack-test-servers.XXXXXX)
chmod 755 "$servers"  # the postgres user must reach its data folder inside
trap 'scripts/test-servers.sh stop "$servers"' EXIT
eval "$(scripts/test-servers.sh start "$servers")"
export COVTRACK_REQUIRE_SERVERS=1
export TEST_TMPDIR=$servers/tmp
mkdir -p "$TEST_TMPDIR"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j2 "$@"
