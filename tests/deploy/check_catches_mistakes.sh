#!/usr/bin/env bash
# Shows that check_deploy.py fails on the mistakes it exists to catch: each case copies deploy/
# to a temporary folder, breaks one thing, and expects the checker to name it.
# usage: check_catches_mistakes.sh REPO_ROOT PYTHON3 [PROGRAM=PATH ...]
set -euo pipefail
root=$1
python=$2
shift 2
programs=("$@")
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/deploy-mistakes.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0

# expect FILE SED_EXPRESSION EXPECTED_MESSAGE
expect() {
  local file=$1 expression=$2 message=$3 output
  rm -rf "$work/case" && mkdir -p "$work/case/scripts"
  cp -r "$root/deploy" "$work/case/"
  cp "$root/scripts/install-deps.sh" "$work/case/scripts/"
  local before
  before=$(cat "$work/case/$file")
  sed -i "$expression" "$work/case/$file"
  if [ "$before" = "$(cat "$work/case/$file")" ]; then
    echo "BROKEN CASE: '$expression' changed nothing in $file"
    failed=1
    return
  fi
  if output=$("$python" "$root/tests/deploy/check_deploy.py" "$work/case" "${programs[@]}" 2>&1); then
    echo "MISSED: $file '$expression' passed the check"
    failed=1
  elif ! grep -qF -- "$message" <<<"$output"; then
    echo "MISSED: $file '$expression': expected \"$message\" in:"
    echo "$output"
    failed=1
  else
    echo "caught: $message"
  fi
}

base=deploy/k8s/base
dev=deploy/k8s/overlays/dev
prod=deploy/k8s/overlays/production
expect $base/targets.yaml '0,/readinessProbe:/s//startupProbe:/' "covtrack-targets/targets: no readinessProbe"
expect $base/aggregation.yaml 's/livenessProbe:/startupProbe:/' "covtrack-aggregation/aggregation: no livenessProbe"
expect $base/ingestion.yaml '/limits:/,+1d' "no resources.limits.memory"
expect $base/redis.yaml 's/runAsNonRoot: true/runAsNonRoot: false/' "covtrack-redis/redis: must run as a non-root user"
expect $base/ingestion.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "root filesystem must be read-only"
expect $base/ingestion.yaml 's/terminationGracePeriodSeconds: 30/terminationGracePeriodSeconds: 10/' "terminationGracePeriodSeconds 10 leaves too little time"
expect $base/kustomization.yaml 's/COVTRACK_REDIS=/COVTRACK_REDIS_ADDR=/' "COVTRACK_REDIS (--redis) is not set"
expect $base/kustomization.yaml 's/covtrack-ingestion:50051/covtrack-ingestion:50052/' "Service covtrack-ingestion has no port 50052"
expect $base/kustomization.yaml 's/0.0.0.0:50053/127.0.0.1:50053/' "should listen on all interfaces"
expect $base/targets.yaml '0,/port: 50053/s//port: 50054/' "should be a grpc health probe on port 50053"
expect $base/ingestion.yaml '/^kind: PodDisruptionBudget/,$s/covtrack-ingestion$/covtrack-nothing/' "covtrack-ingestion/ingestion: no PodDisruptionBudget"
expect $base/redis.yaml '/^kind: NetworkPolicy/,$s/covtrack-aggregation$/covtrack-targets/' "a NetworkPolicy keeps covtrack-redis from being reached"
expect $dev/sqlite-stores.yaml '0,/replicas: 1/s//replicas: 2/' "dev/covtrack-ingestion/ingestion: an SQLite store needs replicas 1 and strategy Recreate"
expect $dev/sqlite-stores.yaml '0,/type: Recreate/s//type: RollingUpdate/' "an SQLite store needs replicas 1 and strategy Recreate"
expect $dev/sqlite-stores.yaml '0,/claimName: covtrack-ingestion-data/s//claimName: covtrack-missing/' "claims missing PVC covtrack-missing"
expect $prod/postgresql-stores.yaml '0,/secretKeyRef:/s//configMapKeyRef:/' "must come from a Secret"
expect $prod/replicas.yaml '0,/replicas: 2/s//replicas: 1/' "production/covtrack-ingestion: production runs 2+ replicas"
expect deploy/docker/Dockerfile 's/^USER .*/USER root/' "the runtime stage should end as USER 10001:10001"
expect deploy/docker/Dockerfile 's/ make pkg-config/ make pkg-config ninja-build/' "build package ninja-build is not in scripts/install-deps.sh"
for arg in "${programs[@]}"; do
  case $arg in
    covtrack-ingestion=*)
      expect deploy/docker/Dockerfile 's/ libpq5//' "needs libpq.so.5: add libpq5 to the runtime stage"
      expect deploy/README.md 's/--store/--st0re/g' "does not document --store / COVTRACK_STORE"
      expect deploy/README.md '/^| `--shutdown_grace`/d' "the table \"every covtrack service\" does not document --shutdown_grace"
      expect $base/kustomization.yaml 's/COVTRACK_LISTEN=0.0.0.0:50051/COVTRACK_LISTEN=0.0.0.0:50051\n      - COVTRACK_LISTEN_ADDR=0.0.0.0:50051/' "COVTRACK_LISTEN_ADDR matches no flag of covtrack-ingestion"
      ;;
  esac
done
exit $failed
