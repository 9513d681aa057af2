#!/usr/bin/env bash
# Renders each overlay and validates every object against the Kubernetes 1.27 schemas (npm
# kubernetes-models, pinned by tests/deploy/schema/package-lock.json), unknown fields included.
# The packages are installed with `npm ci` into TOOLS_DIR (in the build tree), once per lock.
# usage: check_schema.sh REPO_ROOT TOOLS_DIR [DEPLOY_ROOT]   (DEPLOY_ROOT: REPO_ROOT by default)
set -euo pipefail
root=$1
tools=$2
deploy_root=${3:-$root}
src=$root/tests/deploy/schema
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "FAIL: node and npm are needed (scripts/install-deps.sh installs nodejs npm)"; exit 1; }
mkdir -p "$tools"
if ! cmp -s "$src/package-lock.json" "$tools/package-lock.json" || [ ! -d "$tools/node_modules" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$tools/"
  (cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
cp "$src/validate.mjs" "$tools/validate.mjs"
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/deploy-schema.XXXXXX")
trap 'rm -rf "$work"' EXIT
for overlay in dev prod; do
  kubectl kustomize "$deploy_root/deploy/k8s/overlays/$overlay" >"$work/$overlay.yaml"
done
node "$tools/validate.mjs" "$work/dev.yaml" "$work/prod.yaml"
