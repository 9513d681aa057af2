#!/usr/bin/env bash
# Builds a sanitizer tree and runs some test folders in it against a throw-away PostgreSQL and
# Redis, as scripts/test.sh does for the whole tree:
#   scripts/test-sanitized.sh SANITIZERS BUILD_DIR FOLDER...
#   SANITIZERS  address,undefined or thread (CMake's COVTRACK_SANITIZE)
#   FOLDER      a folder under tests/ (tests/common, tests/aggregation, ...): its targets are
#               built with what they need, and its ctest tests run.
# A sanitizer report fails the test that made it: ASan and UBSan stop the program at the first
# (UBSan is built with -fno-sanitize-recover), TSan exits non-zero (halt_on_error) and reads
# tests/sanitizers/tsan.supp, which names third-party libraries only; in the TSan tree Abseil's
# Mutex is made visible to TSan (tests/sanitizers/absl_mutex_tsan.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=$1
build=$2
shift 2
folders=("$@")

# -O1 -g1 (set by COVTRACK_SANITIZE) with asserts on (Debug). Ninja builds the folders' targets
# in one run (its FOLDER/all targets); tests are discovered when ctest runs, not at build time.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOVTRACK_SANITIZE="$sanitize" \
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST >/dev/null
targets=()
for folder in "${folders[@]}"; do targets+=("$folder/all"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

servers=$(mktemp -d /tmp/covtrack-sanitized-servers.XXXXXX)
chmod 755 "$servers"  # the postgres user must reach its data folder inside
trap 'scripts/test-servers.sh stop "$servers"' EXIT
eval "$(scripts/test-servers.sh start "$servers")"
export COVTRACK_REQUIRE_SERVERS=1
export TEST_TMPDIR=$servers/tmp
mkdir -p "$TEST_TMPDIR"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp}
status=0
for folder in "${folders[@]}"; do
  echo "-- $sanitize: $folder"
  ctest --test-dir "$build/$folder" --output-on-failure -j2 || status=1
done
exit $status
