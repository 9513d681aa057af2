#!/usr/bin/env bash
# Installs the Debian 12 packages covtrack builds and runs with (as root). Quick when they are
# already there: apt-get runs only if something is missing.
set -euo pipefail
packages=(
  cmake g++ make pkg-config
  lld  # the linker CMakeLists.txt prefers: about three times as fast as GNU ld here
  ninja-build clang-format-14  # .ci/run: the sanitizer build trees and the formatting check
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libhiredis-dev libsqlite3-dev libpq-dev libssl-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server postgresql
  libcpp-httplib-dev  # the Prometheus /metrics endpoint
  libyaml-cpp-dev     # the access policy file
  python3-yaml  # tests/deploy reads the rendered manifests with Debian's python3
  # tests/deploy validates the manifests with npm kubernetes-models. npm comes with the
  # machine's nodejs (NodeSource's build, which conflicts with Debian's npm package).
  nodejs
  iproute2 util-linux openssl  # tests/deploy runs pods in network namespaces (ip, unshare, setpriv)
  python3-grpcio python3-protobuf  # tests/clients: a Python client generated from proto/
  buildah mmdebstrap  # tests/deploy: deploy.images builds the images without a Docker engine
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
