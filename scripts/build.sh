#!/usr/bin/env bash
# Configures and builds everything into build/ (BUILD_DIR to change); --configure-only stops
# after the configure (scripts/test.sh starts the image build there, beside the compile).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
if [[ ${1:-} == --configure-only ]]; then
  exit 0
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
