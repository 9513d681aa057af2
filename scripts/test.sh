#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, starts a throw-away PostgreSQL and Redis on
# loopback, runs ctest (unit, store, service and integration tests, and the image build), and
# stops the servers. Arguments go to ctest (scripts/test.sh -R Coverage runs those tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
scripts/install-deps.sh
servers=$(mktemp -d /tmp/covtrack-test-servers.XXXXXX)
images=""  # the process group of the image build while it runs
stop() {
  if [[ -n $images ]]; then kill -- "-$images" 2>/dev/null || true; fi
  scripts/test-servers.sh stop "$servers"
}
trap stop EXIT
# The image build (deploy.images, label images) compiles the project in an image of its own and
# reads nothing of this build, and it is the longest test by far: when every test runs, it
# starts as soon as the tree is configured, beside the compile, rather than after it.
images_log=$servers/images.log
if (($# == 0)); then
  scripts/build.sh --configure-only
  setsid ctest --test-dir "$build" -L images --output-on-failure >"$images_log" 2>&1 &
  images=$!
fi
scripts/build.sh
chmod 755 "$servers"  # the postgres user must reach its data folder inside
eval "$(scripts/test-servers.sh start "$servers")"
export COVTRACK_REQUIRE_SERVERS=1
export TEST_TMPDIR=$servers/tmp
mkdir -p "$TEST_TMPDIR"
if [[ -z $images ]]; then
  ctest --test-dir "$build" --output-on-failure -j2 "$@"
  exit
fi
status=0
ctest --test-dir "$build" --output-on-failure -j2 -LE images || status=$?
echo "-- the image build (deploy.images), started beside the compile:"
images_status=0
wait "$images" || images_status=$?
images=""
cat "$images_log"
exit $((status != 0 ? status : images_status))
